"""Checks STIX 2.1 bundles with OASIS's own tools: stix2-validator in
strict mode (warnings are errors) and the stix2 library's parser; and
isop's extension on every report and note against its published JSON
schema (docs/stix/isop-notice.schema.json).

Usage: check_stix.py BUNDLE...   (exits 1 on the first invalid bundle)
"""
import json
import os
import sys

import jsonschema

import stix2
from stix2.properties import StringProperty
from stix2validator import ValidationOptions, validate_file, print_results

# The cryptocurrency-wallet observable, as its extension definition
# publishes it (docs/STIX.md): a consumer registers the extensions it
# reads.
WALLET_EXTENSION = "extension-definition--be78509e-6958-51b1-8b26-d17ee0eba2d7"


@stix2.v21.CustomObservable(
    "cryptocurrency-wallet",
    [("address", StringProperty(required=True))],
    ["address"],
    extension_name=WALLET_EXTENSION,
)
class CryptocurrencyWallet:
    pass


ISOP_EXTENSION = "extension-definition--3c9f1e47-5d0a-4b8e-9f61-2a7c4e8d5b13"
SCHEMA = os.path.join(
    os.path.dirname(__file__), "..", "..", "..", "..", "docs", "stix", "isop-notice.schema.json"
)


def main(paths):
    options = ValidationOptions(strict=True, version="2.1")
    with open(SCHEMA, encoding="utf-8") as f:
        schema = jsonschema.Draft202012Validator(json.load(f))
    for path in paths:
        results = validate_file(path, options)
        errors = sum(len(o.errors) for o in results.object_results)
        warnings = sum(len(o.warnings) for o in results.object_results)
        if not results.is_valid:
            print_results(results)
            print(f"{path}: INVALID: {errors} errors, {warnings} warnings")
            return 1
        with open(path, encoding="utf-8") as f:
            raw = f.read()
        bundle = stix2.parse(raw, allow_custom=False)
        extensions = [
            o["extensions"][ISOP_EXTENSION]
            for o in json.loads(raw)["objects"]
            if ISOP_EXTENSION in o.get("extensions", {})
        ]
        for e in extensions:
            problems = list(schema.iter_errors(e))
            if problems:
                print(f"{path}: notice {e.get('notice_id')}: {problems[0].message}")
                return 1
        print(
            f"{path}: stix2-validator (strict): valid, {errors} errors, {warnings} warnings; "
            f"stix2 {stix2.__version__} parsed {len(bundle.objects)} objects; "
            f"{len(extensions)} isop extensions match the schema"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
