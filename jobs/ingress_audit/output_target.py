"""Where `run` writes: a local folder, or a local working copy published to S3 afterwards; and
where last period's report is found (for the week-over-week comparison and the manifest chain).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from .errors import ConfigError
from .evidence.manifest import sha256_file
from .period import Period
from .publish import PublishResult, check_destination, fetch_previous, parse_out_url, publish
from .sources import make_s3_client

log = logging.getLogger(__name__)


class OutputTarget:
    """The output folder: local, or a local working copy of the S3 period folder."""

    def __init__(self, local_dir: Path, s3=None, client=None, destination=None, label: str = "") -> None:
        self.local_dir, self.s3, self.client, self.destination, self.label = local_dir, s3, client, destination, label

    @classmethod
    def resolve(cls, out: str, period: Period, cache_dir: Path, retain_days: int | None) -> "OutputTarget":
        if not out.startswith("s3://"):
            if retain_days is not None:
                raise ConfigError("--retain-days applies to --out s3://… (Object Lock), not to a local folder")
            local = Path(out)
            if local.exists() and not local.is_dir():
                raise ConfigError(f"--out {out} exists and is not a folder")
            return cls(local)
        bucket, prefix = parse_out_url(out)
        client = make_s3_client()
        destination = check_destination(client, bucket, prefix, period.label(), retain_days=retain_days)
        local = cache_dir / "out" / period.label()
        if local.exists():
            shutil.rmtree(local)  # a working copy: never mix a previous run's files into this one
        return cls(local, (bucket, prefix), client, destination, period.label())

    def previous(self, given: Path | None, period: Period, cache_dir: Path) -> dict[str, Path]:
        """Last period's findings.json and manifest.json: from --previous, the sibling folder
        named after last period (reports/2026-W46 beside reports/2026-W47), or S3."""
        names = ("findings.json", "manifest.json")
        if given is None and self.s3 is None and self.local_dir.name == period.label():
            sibling = self.local_dir.parent / period.previous().label()
            given = sibling if sibling.is_dir() else None
        if given is not None:
            return {n: given / n for n in names if (given / n).is_file()}
        if self.s3 is None:
            return {}
        dest = cache_dir / "previous" / period.previous().label()
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        bucket, prefix = self.s3
        return fetch_previous(self.client, bucket, prefix, period.previous().label(), dest, names)

    def publish(self, paths: dict[str, Path], names: tuple[str, ...],
                retain_days: int | None) -> tuple[PublishResult | None, str | None]:
        """Upload the outputs; (what was published, None), or (None, the URL) when the period's
        folder already holds this very report."""
        bucket, prefix = self.s3
        if self.destination.complete and self.destination.manifest_sha256 == sha256_file(paths["manifest.json"]):
            # the same inputs, policy and version already published this report: a rerun is a no-op
            log.info("%s already holds this report (identical manifest); nothing uploaded", self.destination.url)
            return None, self.destination.url
        return publish(self.client, self.local_dir, bucket, prefix, self.label, list(names),
                       retain_days=retain_days), None
