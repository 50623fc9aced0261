"""Creates/starts, or stops and removes, the throw-away PostgreSQL cluster of an API test run.

    cluster.py start --dir DIR    # ctest FIXTURES_SETUP
    cluster.py stop  --dir DIR    # ctest FIXTURES_CLEANUP

Both call deploy/pg.sh with PGDIR=DIR. Every test class then creates its own
database in this cluster (harness.new_database()).
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

SRC = Path(os.environ.get("LEADX_SOURCE_DIR") or Path(__file__).resolve().parents[2])
PG_SH = Path(os.environ.get("LEADX_PG_SH") or SRC / "deploy" / "pg.sh")


def pg(cmd, pgdir, check=True):
    # Test clusters need no huge pages, and each would hold its shared buffers' worth of them until stopped.
    env = dict(os.environ, PGDIR=str(pgdir), LEADX_HUGE_PAGES="off")
    env.pop("DBNAME", None)
    p = subprocess.run([str(PG_SH), cmd], env=env, text=True, capture_output=True, timeout=300)
    sys.stdout.write(p.stdout)
    sys.stderr.write(p.stderr)
    if check and p.returncode != 0:
        sys.exit(f"cluster.py: deploy/pg.sh {cmd} failed with status {p.returncode}")
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["start", "stop"])
    ap.add_argument("--dir", required=True, help="the cluster directory (PGDIR)")
    args = ap.parse_args()
    pgdir = Path(args.dir).resolve()
    if not PG_SH.exists():
        sys.exit(f"cluster.py: {PG_SH} is missing")
    if args.action == "start":
        pgdir.parent.mkdir(parents=True, exist_ok=True)
        pg("start", pgdir)
        url = pg("url", pgdir).stdout.strip()
        print(f"cluster.py: test cluster in {pgdir}: {url}")
    else:
        # destroy stops the server first; a missing cluster is not an error at clean-up.
        pg("destroy", pgdir, check=pgdir.exists())
        print(f"cluster.py: test cluster in {pgdir} removed")


if __name__ == "__main__":
    main()
