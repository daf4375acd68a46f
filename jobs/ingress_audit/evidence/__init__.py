"""Evidence that a report is complete and unaltered: the manifest, its signatures, and `verify`.

Readable on its own by someone who only wants to check a report; it imports nothing from the
pipeline, only the standard library, `cryptography`, pyHanko and `ingress_audit.errors`.

- `keys`          the signing identity: a mounted key and certificate, or a development pair
- `manifest`      manifest.json: hashes of inputs, queries, policy and outputs (no clock in it)
- `manifest_sign` manifest.json.sig: a detached signature that plain openssl can check
- `pdf_sign`      report.pdf: a PAdES signature added as an incremental update
- `pdf_files`     reading the files attached to report.pdf
- `verify`        every check `ingress-audit verify` makes

A signed report folder holds: report.html, report.pdf (signed, with findings.json, manifest.json
and manifest.json.sig attached), findings.json, manifest.json and manifest.json.sig.
"""

MANIFEST_NAME = "manifest.json"
MANIFEST_SIG_NAME = "manifest.json.sig"
REPORT_PDF_NAME = "report.pdf"
FINDINGS_NAME = "findings.json"
