"""moto_server with SigV4 checked against the request as it was sent (tests/e2e/test_s3.sh).

moto's IAM mode (INITIAL_NO_AUTH_ACTION_COUNT) checks each request's SigV4 signature, but it
rebuilds the canonical request from the path and query string after decoding them, so every key
with a character that S3 percent-encodes (a space, '+', '%', '=', non-ASCII, ...) and every query
value with one ('prefix=a%2F') is refused with SignatureDoesNotMatch although it was signed as
AWS specifies. This launcher hands moto's check the raw request URI instead (werkzeug's RAW_URI),
which is what AWS canonicalizes, and then runs moto_server as usual with the same arguments.
"""
import sys

from moto.core import authorization, responses

_setup_class = responses.BaseResponse.setup_class
_authenticate = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action


def setup_class(self, request, full_url, headers, *args, **kwargs):
    environ = getattr(request, "environ", None) or {}
    self._raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    return _setup_class(self, request, full_url, headers, *args, **kwargs)


def authenticate(self, iam_request_cls, resource="*"):
    raw = getattr(self, "_raw_uri", None)
    if not raw:
        return _authenticate(self, iam_request_cls, resource)
    decoded = self.uri
    self.uri = "http://moto" + raw
    try:
        return _authenticate(self, iam_request_cls, resource)
    finally:
        self.uri = decoded


responses.BaseResponse.setup_class = setup_class
authorization.ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
