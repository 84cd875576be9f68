"""Talks to a node's TAXII 2.1 server with OASIS's taxii2-client and
prints what it does: discover, list collections, page through objects
with added_after and next, fetch the manifest, an object and its
versions, and be refused without a token.

Usage: taxii_client.py DISCOVERY_URL TOKEN_FILE
"""
import sys

import requests
from taxii2client.v21 import Server, as_pages


class Bearer(requests.auth.AuthBase):
    def __init__(self, token):
        self.token = token

    def __call__(self, r):
        r.headers["Authorization"] = "Bearer " + self.token
        return r


def main(url, token_file):
    with open(token_file, encoding="utf-8") as f:
        token = f.read().strip()
    server = Server(url, auth=Bearer(token))
    print(f"discovery: {server.title!r}, API roots {[r.url for r in server.api_roots]}")
    root = server.default
    print(f"API root: {root.title!r}, versions {root.versions}, max content {root.max_content_length}")
    collections = {c.alias: c for c in root.collections}
    for c in root.collections:
        print(f"  collection {c.id} {c.alias!r}: {c.title!r}, read {c.can_read}, write {c.can_write}")
    everything = collections["all"]

    pages = [env for env in as_pages(everything.get_objects, per_request=7)]
    objects = [o for env in pages for o in env.get("objects", [])]
    assert all(len(env["objects"]) == 7 for env in pages[:-1]), "a full page is short"
    assert not pages[-1].get("more"), "the last page says more"
    ids = [(o["id"], o.get("modified")) for o in objects]
    assert len(ids) == len(set(ids)), "an object version listed twice"
    print(f"objects: {len(objects)} in {len(pages)} pages of 7 (next: {pages[0].get('next')!r})")

    manifest = [r for env in as_pages(everything.get_manifest, per_request=50) for r in env["objects"]]
    assert [(r["id"], r["version"]) for r in manifest] == [
        (o["id"], o.get("modified", r["version"])) for o, r in zip(objects, manifest)
    ], "the manifest does not list the objects"
    print(f"manifest: {len(manifest)} records, first {manifest[0]['id']} added {manifest[0]['date_added']}")

    cut = manifest[len(manifest) // 2]["date_added"]
    later = [o for env in as_pages(everything.get_objects, per_request=5, added_after=cut) for o in env["objects"]]
    expected = [r for r in manifest if r["date_added"] > cut]
    assert len(later) == len(expected) and later, (len(later), len(expected))
    print(f"added_after {cut}: {len(later)} objects")

    reports = [o for o in objects if o["type"] == "report"]
    one = everything.get_object(reports[0]["id"])
    versions = everything.object_versions(reports[0]["id"])
    print(f"object {reports[0]['id']}: {len(one['objects'])} version(s); versions {versions['versions']}")

    revoked = [o for o in objects if o.get("revoked")]
    if revoked:
        history = everything.object_versions(revoked[0]["id"])["versions"]
        assert len(history) == 2, history
        print(f"revoked {revoked[0]['id']}: versions {history}")

    for alias in sorted(collections):
        if alias.startswith("kind-") or alias.startswith("case-"):
            n = sum(len(env.get("objects", [])) for env in as_pages(collections[alias].get_objects, per_request=100))
            print(f"  {alias}: {n} objects")

    refused = requests.get(url, headers={"Accept": "application/taxii+json;version=2.1"})
    assert refused.status_code == 401, refused.status_code
    assert refused.headers["Content-Type"] == "application/taxii+json;version=2.1"
    print(f"without a token: {refused.status_code} {refused.json()}")
    wrong_type = requests.get(url, headers={"Accept": "application/json", "Authorization": "Bearer " + token})
    assert wrong_type.status_code == 406, wrong_type.status_code
    print(f"Accept application/json: {wrong_type.status_code} {wrong_type.json()['description']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
