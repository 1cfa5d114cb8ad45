"""Uploads a file to Coffre with tuspy, the third-party tus client.

Used by Tests/ServiceTests/TusClientTests.swift: proves that an unmodified
tus 1.0.0 client can create an upload, send checksummed chunks, stop, and
resume from the server's offset with a fresh uploader.

usage: tuspy_upload.py GATEWAY_URL ACCESS_TOKEN FILE NODE_ID ALGORITHM STOP_AT
Prints one JSON object: the upload URL and the offsets seen.
"""
import hashlib
import json
import sys

from tusclient import client
from tusclient.uploader import Uploader


class Sha256Uploader(Uploader):
    CHECKSUM_ALGORITHM_PAIR = ("sha256", hashlib.sha256)


def main():
    gateway, token, path, node, algorithm, stop_at = sys.argv[1:7]
    uploader_class = Sha256Uploader if algorithm == "sha256" else Uploader
    tus = client.TusClient(gateway.rstrip("/") + "/v1/uploads", headers={"Authorization": "Bearer " + token})
    # Opaque to the server: a real client sends ciphertext here.
    metadata = {"node": node, "attributes": "c2VhbGVkLWF0dHJpYnV0ZXM", "key": "d3JhcHBlZC1rZXk"}
    first = uploader_class(file_path=path, client=tus, chunk_size=256 * 1024, metadata=metadata, upload_checksum=True)
    first.upload(stop_at=int(stop_at))
    stopped = first.offset
    # A new uploader knowing only the URL: it asks the server (HEAD) where to go on.
    second = uploader_class(file_path=path, client=tus, url=first.url, chunk_size=256 * 1024, upload_checksum=True)
    resumed_from = second.offset
    second.upload()
    print(json.dumps({"url": first.url, "stopped_at": stopped, "resumed_from": resumed_from, "final": second.offset}))


if __name__ == "__main__":
    main()
