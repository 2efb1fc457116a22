"""Known vulnerabilities of the locked packages from PyPI's project JSON.

pip-audit asks PyPI for each exact version (/pypi/NAME/VERSION/json). Where only the project
document (/pypi/NAME/json) is served, as on mirrors that keep the newest release's metadata, this
reads its ``vulnerabilities`` list, which describes the newest release: exact for every package
locked at its newest version. Packages locked at an older version cannot be checked this way and
are listed, so the reader knows what was not audited.

Usage: python bin/pypi_vulns.py REQUIREMENTS [--ignore VULN-ID ...]
Exit 0: nothing known; 1: a vulnerability was found; 2: PyPI could not be read at all.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

PIN = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def locked(path: str) -> list[tuple[str, str]]:
    pins = []
    with open(path) as handle:
        for line in handle:
            match = PIN.match(line.strip())
            if match:
                pins.append((match.group(1), match.group(2)))
    return pins


def project(name: str) -> dict | None:
    url = f"https://pypi.org/pypi/{name}/json"
    try:
        with urllib.request.urlopen(url, timeout=20) as response:
            return json.load(response)
    except (urllib.error.URLError, TimeoutError, json.JSONDecodeError):
        return None


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("requirements")
    parser.add_argument("--ignore", action="append", default=[])
    args = parser.parse_args()
    pins = locked(args.requirements)
    with ThreadPoolExecutor(max_workers=8) as pool:
        documents = list(pool.map(lambda pin: project(pin[0]), pins))
    found, older, unreadable = [], [], []
    for (name, version), document in zip(pins, documents, strict=True):
        if document is None:
            unreadable.append(name)
            continue
        if document["info"]["version"] != version:
            older.append(f"{name}=={version} (newest {document['info']['version']})")
            continue
        for vuln in document.get("vulnerabilities") or []:
            ids = {vuln.get("id"), *(vuln.get("aliases") or [])}
            if not ids & set(args.ignore):
                found.append(f"{name}=={version}: {vuln.get('id')} {vuln.get('summary') or ''}")
    checked = len(pins) - len(older) - len(unreadable)
    print(f"{checked} of {len(pins)} locked packages checked against PyPI's vulnerability data.")
    if older:
        print("Not checked (locked below the newest release, whose data is all PyPI serves here):")
        print("  " + "\n  ".join(older))
    if unreadable:
        print("Could not read from PyPI: " + ", ".join(unreadable), file=sys.stderr)
    if found:
        print("Known vulnerabilities:\n  " + "\n  ".join(found), file=sys.stderr)
        return 1
    return 2 if checked == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
