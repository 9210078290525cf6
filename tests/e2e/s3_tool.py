"""A second, independent S3 client for tests/e2e/test_s3.sh and scripts/bench.sh (boto3, which
moto brings): it fills buckets and describes them, so what volshift copied is checked by code that
is not volshift's.

  s3_tool.py URL AK SK put BUCKET KEY [--size N | --text T] [--type T] [--meta K=V]...
  s3_tool.py URL AK SK fill BUCKET PREFIX COUNT MIN MAX [SEED]   COUNT objects of MIN..MAX bytes
  s3_tool.py URL AK SK tree [BUCKET...]   one line per object: bucket, key, size, MD5, headers, metadata
  s3_tool.py URL AK SK keys BUCKET        one key per line
  s3_tool.py URL AK SK rm BUCKET KEY
"""
import hashlib
import json
import random
import sys

import boto3
from botocore.config import Config


def client(url, ak, sk):
    return boto3.client("s3", endpoint_url=url, aws_access_key_id=ak, aws_secret_access_key=sk,
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 10},
                                      request_checksum_calculation="when_required",
                                      response_checksum_validation="when_required"))


def ensure_bucket(s3, bucket):
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception:
        s3.create_bucket(Bucket=bucket)


def data_of(seed, size):
    rnd = random.Random(seed)
    return rnd.randbytes(size)


def put(s3, args):
    bucket, key = args[0], args[1]
    body, kw, i = b"", {}, 2
    meta = {}
    while i < len(args):
        a, v = args[i], args[i + 1]
        if a == "--size":
            body = data_of(key, int(v))
        elif a == "--text":
            body = v.encode()
        elif a == "--type":
            kw["ContentType"] = v
        elif a == "--meta":
            k, _, val = v.partition("=")
            meta[k] = val
        elif a == "--header":
            k, _, val = v.partition("=")
            kw[k] = val
        i += 2
    ensure_bucket(s3, bucket)
    s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=meta, **kw)


def fill(s3, args):
    bucket, prefix, count, lo, hi = args[0], args[1], int(args[2]), int(args[3]), int(args[4])
    seed = args[5] if len(args) > 5 else "fill"
    ensure_bucket(s3, bucket)
    rnd = random.Random(seed)
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        size = rnd.randint(lo, hi) if lo < hi else lo
        s3.put_object(Bucket=bucket, Key="%s%05d" % (prefix, i), Body=data_of("%s%d" % (seed, i), size))

    sizes = list(range(count))
    with ThreadPoolExecutor(8) as ex:
        list(ex.map(one, sizes))


def keys(s3, bucket):
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for o in page.get("Contents", []):
            yield o["Key"]


def tree(s3, buckets):
    if not buckets:
        buckets = sorted(b["Name"] for b in s3.list_buckets().get("Buckets", []))
    kept = ("ContentType", "ContentEncoding", "ContentDisposition", "CacheControl", "ContentLanguage", "Expires")
    for b in buckets:
        for k in sorted(keys(s3, b)):
            o = s3.get_object(Bucket=b, Key=k)
            h = hashlib.md5()
            for chunk in iter(lambda: o["Body"].read(1 << 20), b""):
                h.update(chunk)
            meta = {m: v for m, v in o.get("Metadata", {}).items() if m != "volshift-source-etag"}
            heads = {f: str(o[f]) for f in kept if o.get(f) is not None}
            print(json.dumps([b, k, o["ContentLength"], h.hexdigest(), heads, meta], sort_keys=True,
                             ensure_ascii=False))


def main():
    url, ak, sk, cmd, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    s3 = client(url, ak, sk)
    if cmd == "put":
        put(s3, args)
    elif cmd == "fill":
        fill(s3, args)
    elif cmd == "tree":
        tree(s3, args)
    elif cmd == "keys":
        for k in keys(s3, args[0]):
            print(k)
    elif cmd == "rm":
        s3.delete_object(Bucket=args[0], Key=args[1])
    elif cmd == "head":
        print(json.dumps(s3.head_object(Bucket=args[0], Key=args[1]).get("Metadata", {}), sort_keys=True))
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
