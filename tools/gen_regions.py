#!/usr/bin/python3
"""Generate migrations/0002_regions.sql from Debian's iso-codes package.

The region catalogue (ISO 3166-1 countries and ISO 3166-2 subdivisions) is
shipped as data in a SQL migration; neither the build nor the server needs
iso-codes. Rerun this script (stdlib only) after upgrading iso-codes to
regenerate the migration, then review the diff:

    apt-get install -y iso-codes
    /usr/bin/python3 tools/gen_regions.py            # writes migrations/0002_regions.sql
    /usr/bin/python3 tools/gen_regions.py -o -       # to stdout

Rules:
  * every ISO 3166-1 alpha-2 country, named by iso-codes' common_name when it
    has one, else by name; kind 'country', parent NULL;
  * every ISO 3166-2 subdivision iso-codes lists, kind = its type lower-cased;
    parent = the parent subdivision when iso-codes gives one (either a bare
    suffix such as "NX" for AZ-NX or a full code such as "GB-ENG"), else the
    country. Subdivisions whose type is "Country" (GB-ENG, NL-AW, ...) get the
    kind 'constituent country': 'country' is reserved for ISO 3166-1 rows (the
    table's CHECK ties it to parent IS NULL);
  * rows are ordered parents first (countries, then subdivisions by depth, then
    code), so the self-referencing foreign key holds row by row.
The script fails (exit 1) when a code, name or parent breaks the table's
constraints rather than writing a migration that would not apply.
"""

import argparse
import json
import os
import re
import subprocess
import sys

ISO_DIR = "/usr/share/iso-codes/json"
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUT = os.path.join(REPO, "migrations", "0002_regions.sql")
ROWS_PER_INSERT = 500
CODE_RE = re.compile(r"[A-Z]{2}(-[A-Z0-9]{1,3})?")
REQUIRED_COUNTRIES = ("RU", "US", "PL", "CZ", "RO", "UA", "KZ", "DE", "GB")
KIND_RENAMES = {"country": "constituent country"}

SCHEMA = """\
CREATE TABLE regions (
  code     text PRIMARY KEY CHECK (code ~ '^[A-Z]{2}(-[A-Z0-9]{1,3})?$'),
  country  char(2) NOT NULL,
  name     text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  kind     text NOT NULL,                  -- 'country' for ISO 3166-1 rows, else the ISO 3166-2 subdivision type, lower-cased
  parent   text REFERENCES regions (code), -- NULL for countries; the parent subdivision, else the country, for subdivisions
  CHECK ((kind = 'country') = (parent IS NULL)),
  CHECK (code = country OR code LIKE country || '-%')
);
CREATE INDEX regions_country ON regions (country, code);
"""


class GenError(Exception):
    pass


def iso_codes_version():
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f=${Version}", "iso-codes"],
                             check=True, capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise GenError("cannot read the iso-codes version with dpkg-query: %s "
                       "(apt-get install -y iso-codes)" % e)
    if not out:
        raise GenError("dpkg-query gave no iso-codes version")
    return out


def load(iso_dir, name, key):
    path = os.path.join(iso_dir, name)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)[key]
    except OSError as e:
        raise GenError("%s (apt-get install -y iso-codes)" % e)


def sql_str(s):
    # standard_conforming_strings is on (the default since PostgreSQL 9.1), so
    # only the quote needs doubling; refuse anything else unusual.
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in s) or "\\" in s:
        raise GenError("unexpected control character or backslash in %r" % s)
    return "'" + s.replace("'", "''") + "'"


def check_name(code, name):
    name = name.strip()
    if not 1 <= len(name) <= 200:
        raise GenError("%s: name %r is not 1..200 characters" % (code, name))
    return name


def build_rows(iso_dir):
    """Return ([(code, country, name, kind, parent)], warnings)."""
    warnings = []
    countries = {}
    for e in load(iso_dir, "iso_3166-1.json", "3166-1"):
        code = e["alpha_2"]
        if not re.fullmatch(r"[A-Z]{2}", code):
            raise GenError("ISO 3166-1 alpha-2 code %r is not two letters" % code)
        if code in countries:
            raise GenError("duplicate country %s" % code)
        countries[code] = check_name(code, e.get("common_name") or e["name"])

    subs = {}
    for e in load(iso_dir, "iso_3166-2.json", "3166-2"):
        code = e["code"]
        if not CODE_RE.fullmatch(code) or "-" not in code:
            # None in iso-codes 4.15; fail loudly rather than silently drop a region.
            raise GenError("ISO 3166-2 code %r does not match ^[A-Z]{2}-[A-Z0-9]{1,3}$" % code)
        country = code[:2]
        if country not in countries:
            raise GenError("%s: country %s is not in ISO 3166-1" % (code, country))
        if code in subs:
            raise GenError("duplicate subdivision %s" % code)
        kind = e["type"].strip().lower()
        if not kind:
            raise GenError("%s: empty subdivision type" % code)
        if kind in KIND_RENAMES:
            warnings.append("%s: type %r stored as kind %r" % (code, e["type"], KIND_RENAMES[kind]))
            kind = KIND_RENAMES[kind]
        parent = e.get("parent")
        if parent is None:
            parent = country
        elif "-" not in parent:
            parent = country + "-" + parent
        subs[code] = (country, check_name(code, e["name"]), kind, parent)

    for code, (country, _, _, parent) in subs.items():
        if parent != country:
            if parent not in subs:
                raise GenError("%s: parent %s is not a subdivision" % (code, parent))
            if parent[:2] != country:
                raise GenError("%s: parent %s is in another country" % (code, parent))

    def depth(code, seen=()):
        parent = subs[code][3]
        if parent == subs[code][0]:
            return 1
        if parent in seen:
            raise GenError("parent cycle through %s" % code)
        return 1 + depth(parent, seen + (code,))

    missing = [c for c in REQUIRED_COUNTRIES if not any(s[0] == c for s in subs.values())]
    if missing:
        raise GenError("no subdivisions for %s" % ", ".join(missing))

    rows = [(c, c, n, "country", None) for c, n in sorted(countries.items())]
    for code in sorted(subs, key=lambda c: (depth(c), c)):
        country, name, kind, parent = subs[code]
        rows.append((code, country, name, kind, parent))
    return rows, warnings


def render(rows, version):
    n_countries = sum(1 for r in rows if r[3] == "country")
    out = [
        "-- Region catalogue: ISO 3166-1 countries and ISO 3166-2 subdivisions.",
        "--",
        "-- GENERATED FILE, do not edit by hand: regenerate with",
        "--   /usr/bin/python3 tools/gen_regions.py",
        "-- Generated from Debian iso-codes %s (dpkg-query -W iso-codes;" % version,
        "-- /usr/share/iso-codes/json/iso_3166-1.json and iso_3166-2.json).",
        "-- %d countries, %d subdivisions. Countries carry iso-codes' common name" % (
            n_countries, len(rows) - n_countries),
        "-- where it has one; subdivision kinds are ISO 3166-2 types lower-cased, with",
        "-- 'Country' (GB-ENG, NL-AW, ...) stored as 'constituent country' because",
        "-- kind 'country' means an ISO 3166-1 row. Parents precede their children.",
        "",
        SCHEMA,
    ]
    for i in range(0, len(rows), ROWS_PER_INSERT):
        chunk = rows[i:i + ROWS_PER_INSERT]
        out.append("INSERT INTO regions (code, country, name, kind, parent) VALUES")
        lines = []
        for code, country, name, kind, parent in chunk:
            lines.append("  (%s, %s, %s, %s, %s)" % (
                sql_str(code), sql_str(country), sql_str(name), sql_str(kind),
                "NULL" if parent is None else sql_str(parent)))
        out.append(",\n".join(lines) + ";")
        out.append("")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-o", "--output", default=DEFAULT_OUT, help="output file, '-' for stdout")
    ap.add_argument("--iso-dir", default=ISO_DIR, help="iso-codes JSON directory")
    args = ap.parse_args()
    try:
        version = iso_codes_version()
        rows, warnings = build_rows(args.iso_dir)
    except GenError as e:
        print("gen_regions: %s" % e, file=sys.stderr)
        return 1
    for w in warnings:
        print("gen_regions: note: %s" % w, file=sys.stderr)
    text = render(rows, version)
    if args.output == "-":
        sys.stdout.write(text)
    else:
        tmp = args.output + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, args.output)
        n_countries = sum(1 for r in rows if r[3] == "country")
        print("gen_regions: wrote %s (%d countries, %d subdivisions, iso-codes %s)" % (
            args.output, n_countries, len(rows) - n_countries, version), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
