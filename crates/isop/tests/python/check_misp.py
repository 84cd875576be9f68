"""Loads every event of a MISP feed with PyMISP, as a MISP instance reads
a feed: each attribute's type and category must be MISP's, and each
manifest entry must be what PyMISP makes of the event.

Usage: check_misp.py FEED_DIR
"""
import json
import os
import sys

import pymisp
from pymisp import MISPEvent


def main(feed):
    with open(os.path.join(feed, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    if not manifest:
        print(f"{feed}: the manifest lists no event")
        return 1
    attributes = 0
    for uuid, meta in manifest.items():
        event = MISPEvent()
        event.load_file(os.path.join(feed, f"{uuid}.json"))
        types = event.describe_types
        for a in event.attributes:
            if a.type not in types["types"]:
                print(f"{uuid}: attribute type {a.type} is not MISP's")
                return 1
            if a.type not in types["category_type_mappings"][a.category]:
                print(f"{uuid}: {a.type} is not a type of category {a.category}")
                return 1
        made = event.to_feed(with_meta=True)["Event"]["_manifest"][uuid]
        for key, value in made.items():
            if meta.get(key) != value:
                print(f"{uuid}: manifest {key} is {meta.get(key)!r}, PyMISP makes {value!r}")
                return 1
        if str(event.uuid) != uuid:
            print(f"{uuid}: the event file holds event {event.uuid}")
            return 1
        attributes += len(event.attributes)
        tags = ", ".join(t.name for t in event.tags)
        print(f"  {uuid} {event.info!r}: {len(event.attributes)} attributes; tags {tags}")
    with open(os.path.join(feed, "hashes.csv"), encoding="utf-8") as f:
        hashes = sum(1 for line in f if line.strip())
    print(
        f"{feed}: PyMISP {pymisp.__version__} loaded {len(manifest)} events, "
        f"{attributes} attributes; hashes.csv has {hashes} lines"
    )
    return 0 if hashes == attributes else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
