#!/usr/bin/env python3
"""A scripted SAML 2.0 identity provider for authx's tests, built on pysaml2.

It is an *independent* implementation of the IdP side: pysaml2 parses the service provider's
AuthnRequest and metadata, builds the Response and Assertion, and signs them with the Debian
`xmlsec1` binary (RSA-SHA256 with SHA-256 digests unless a test asks for SHA-1).

Usage (the process serves until its standard input reaches end of file, so it never outlives the
test that started it; keep stdin open as long as the IdP is needed):

    python saml_idp.py                # then write ONE line of JSON config to stdin
    python saml_idp.py '{"...": 1}'   # or give the JSON config as the only argument
    python saml_idp.py @config.json   # or name a file holding it

It binds 127.0.0.1 on a free port and prints its base URL (``http://127.0.0.1:PORT``) as the first
line of stdout. Config keys (all optional except the SP's identity):

    sp_metadata        the SP's metadata XML (what authx serves), or instead:
    sp_entity_id, acs_url   and a minimal SP metadata is made up from them
    entity_id          the IdP's entity id (default: BASE/metadata)
    key_file, cert_file  PEM signing key and certificate (default: a fresh RSA-2048 pair made at
                       start in a temporary directory that is removed at exit)
    user               {"name_id": "...", "name_id_format": "...", "attributes": {"name": ["v"]}}
                       the person the scripted login always logs in
    sign_response, sign_assertion   what /sso/redirect signs (default: both true)
    want_authn_requests_signed   true: the metadata says WantAuthnRequestsSigned="true" and
                       /sso/redirect refuses a request whose redirect-binding signature (SigAlg,
                       Signature) pysaml2 cannot verify with a signing certificate in the SP
                       metadata (default false)

Endpoints:

    GET  /metadata      the IdP's metadata (entity id, HTTP-Redirect SSO location, signing cert);
                        /metadata?key=ec the same with the P-256 certificate instead
    GET  /sso/redirect?SAMLRequest=...&RelayState=...
                        HTTP-Redirect binding: pysaml2 decodes and parses the AuthnRequest, the
                        configured user is "logged in", and the answer is an HTML page whose form
                        auto-posts the signed SAMLResponse and the RelayState to the SP's ACS URL;
                        with want_authn_requests_signed, an unverified request gets a 403
    GET  /requests      JSON list of the AuthnRequests parsed so far (id, issuer, acs_url,
                        name_id_format, destination, relay_state, signed: whether it came with
                        SigAlg and Signature)
    POST /mint          test-only: JSON options -> {"saml_response": base64, "xml": text}; a real
                        pysaml2-built, xmlsec1-signed response with the chosen defects:
        in_response_to   str or null (default null: unsolicited)
        destination      Response Destination (default the ACS URL; null omits it)
        recipient        bearer SubjectConfirmationData Recipient (default the ACS URL)
        audiences        list of lists: one AudienceRestriction per inner list (default
                         [[sp_entity_id]]; [] gives Conditions without any)
        conditions       false removes the Conditions element
        not_before       Conditions NotBefore, seconds from now (default 0)
        not_on_or_after  Conditions and SubjectConfirmationData NotOnOrAfter, seconds from now
                         (default 300)
        issue_instant    Response and Assertion IssueInstant, seconds from now (default 0)
        issuer           Issuer of Response and Assertion (default the IdP entity id)
        status           top-level StatusCode value (default Success)
        name_id          NameID text (default the user's; null removes the NameID)
        name_id_format   NameID Format (default the user's)
        attributes       {"name": ["value", ...]} (default the user's)
        friendly_names   {"name": "FriendlyName"} for some of those attributes
        sign_response, sign_assertion   booleans (default false, true)
        key              "default", "other" or "ec": "other" signs with a second RSA key the
                         metadata does not list; "ec" signs with a P-256 key (ECDSA-SHA256),
                         listed only in the metadata at /metadata?key=ec
        algorithm        "sha256" (default) or "sha1" (rsa-sha1 signature and sha1 digest)

Attributes are emitted literally (Name as given, NameFormat basic, no pysaml2 name mapping), the
way OneLogin-style IdPs send names such as "User.email".
"""

import base64
import datetime
import html
import json
import os
import shutil
import sys
import tempfile
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

# pysaml2 imports cryptography's CFB through a deprecated path; the warning is noise on stderr.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", message=".*CFB.*")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, rsa  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, saml  # noqa: E402
from saml2.config import IdPConfig  # noqa: E402
from saml2.metadata import create_metadata_string  # noqa: E402
from saml2.saml import NAME_FORMAT_BASIC, NAMEID_FORMAT_PERSISTENT, NameID  # noqa: E402
from saml2.response import IncorrectlySigned  # noqa: E402
from saml2.server import Server  # noqa: E402
from saml2.sigver import pre_signature_part, signed_instance_factory  # noqa: E402
from saml2.xmldsig import (  # noqa: E402
    DIGEST_SHA1,
    DIGEST_SHA256,
    SIG_ECDSA_SHA256,
    SIG_RSA_SHA1,
    SIG_RSA_SHA256,
)

XMLSEC = shutil.which("xmlsec1") or "/usr/bin/xmlsec1"
STATUS_SUCCESS = "urn:oasis:names:tc:SAML:2.0:status:Success"
ALGORITHMS = {
    "sha256": (SIG_RSA_SHA256, DIGEST_SHA256),
    "sha1": (SIG_RSA_SHA1, DIGEST_SHA1),
}


def make_key_pair(directory, name, curve=None):
    """A fresh RSA-2048 key (or an EC key on `curve`) and a self-signed certificate (SAML metadata
    pins the key itself)."""
    if curve is None:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = ec.generate_private_key(curve)
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"authx test {name}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    key_path = os.path.join(directory, f"{name}.key")
    cert_path = os.path.join(directory, f"{name}.crt")
    with open(key_path, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    with open(cert_path, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def minimal_sp_metadata(entity_id, acs_url):
    return (
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" '
        f'entityID="{html.escape(entity_id, quote=True)}">'
        '<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" '
        f'Location="{html.escape(acs_url, quote=True)}" index="0" isDefault="true"/>'
        "</md:SPSSODescriptor></md:EntityDescriptor>"
    )


def utc(offset_seconds):
    moment = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=offset_seconds
    )
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Idp:
    def __init__(self, config, base_url, workdir):
        self.base_url = base_url
        self.want_signed = bool(config.get("want_authn_requests_signed", False))
        self.entity_id = config.get("entity_id") or f"{base_url}/metadata"
        if config.get("sp_metadata"):
            sp_metadata = config["sp_metadata"]
        else:
            sp_metadata = minimal_sp_metadata(config["sp_entity_id"], config["acs_url"])
        key_file, cert_file = config.get("key_file"), config.get("cert_file")
        if not (key_file and cert_file):
            key_file, cert_file = make_key_pair(workdir, "idp")
        other_key, other_cert = make_key_pair(workdir, "other")
        self.server = self._server(sp_metadata, key_file, cert_file)
        self.other = self._server(sp_metadata, other_key, other_cert)
        ec_key, ec_cert = make_key_pair(workdir, "ec", ec.SECP256R1())
        self.ec = self._server(sp_metadata, ec_key, ec_cert)
        self.sp_entity_id = next(iter(self.server.metadata.service_providers()))
        self.acs_url = self.server.metadata.assertion_consumer_service(
            self.sp_entity_id, BINDING_HTTP_POST
        )[0]["location"]
        user = config.get("user") or {}
        self.user = {
            "name_id": user.get("name_id", "user-42"),
            "name_id_format": user.get("name_id_format", NAMEID_FORMAT_PERSISTENT),
            "attributes": user.get("attributes", {}),
        }
        self.sso_sign_response = config.get("sign_response", True)
        self.sso_sign_assertion = config.get("sign_assertion", True)
        self.requests = []
        self.lock = threading.Lock()

    def _server(self, sp_metadata, key_file, cert_file):
        conf = IdPConfig()
        conf.load(
            {
                "entityid": self.entity_id,
                "service": {
                    "idp": {
                        "endpoints": {
                            "single_sign_on_service": [
                                (f"{self.base_url}/sso/redirect", BINDING_HTTP_REDIRECT)
                            ]
                        },
                        "policy": {
                            "default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None}
                        },
                        "name_id_format": [NAMEID_FORMAT_PERSISTENT],
                        "want_authn_requests_signed": self.want_signed,
                    }
                },
                "key_file": key_file,
                "cert_file": cert_file,
                "xmlsec_binary": XMLSEC,
                "metadata": {"inline": [sp_metadata]},
            }
        )
        return Server(config=conf)

    def metadata(self, key=None):
        server = self.ec if key == "ec" else self.server
        return create_metadata_string(None, config=server.config, sign=False)

    def mint(self, opts):
        """A response built by pysaml2, altered as `opts` asks, then signed by xmlsec1."""
        with self.lock:
            return self._mint(opts)

    def _mint(self, opts):
        in_response_to = opts.get("in_response_to")
        name_id_text = opts.get("name_id", self.user["name_id"])
        name_id_format = opts.get("name_id_format", self.user["name_id_format"])
        name_id = NameID(format=name_id_format, text=name_id_text or "placeholder")
        response = self.server.create_authn_response(
            {},
            in_response_to,
            self.acs_url,
            self.sp_entity_id,
            name_id=name_id,
            sign_response=False,
            sign_assertion=False,
        )
        assertion = response.assertion
        if isinstance(assertion, list):
            assertion = assertion[0]

        if "destination" in opts:
            response.destination = opts["destination"]
        response.in_response_to = in_response_to
        issue_instant = utc(opts.get("issue_instant", 0))
        response.issue_instant = issue_instant
        assertion.issue_instant = issue_instant
        if "issuer" in opts:
            response.issuer.text = opts["issuer"]
            assertion.issuer.text = opts["issuer"]
        if "status" in opts:
            response.status.status_code.value = opts["status"]
        if name_id_text is None:
            assertion.subject.name_id = None

        not_on_or_after = utc(opts.get("not_on_or_after", 300))
        for confirmation in assertion.subject.subject_confirmation:
            data = confirmation.subject_confirmation_data
            data.not_on_or_after = not_on_or_after
            data.recipient = opts.get("recipient", self.acs_url)
            data.in_response_to = in_response_to
        if opts.get("conditions", True) is False:
            assertion.conditions = None
        else:
            assertion.conditions.not_before = utc(opts.get("not_before", 0))
            assertion.conditions.not_on_or_after = not_on_or_after
            audiences = opts.get("audiences", [[self.sp_entity_id]])
            assertion.conditions.audience_restriction = [
                saml.AudienceRestriction(audience=[saml.Audience(text=a) for a in group])
                for group in audiences
            ]

        attributes = opts.get("attributes", self.user["attributes"])
        friendly_names = opts.get("friendly_names", {})
        if attributes:
            assertion.attribute_statement = [
                saml.AttributeStatement(
                    attribute=[
                        saml.Attribute(
                            name=name,
                            friendly_name=friendly_names.get(name),
                            name_format=NAME_FORMAT_BASIC,
                            attribute_value=[saml.AttributeValue(text=v) for v in values],
                        )
                        for name, values in attributes.items()
                    ]
                )
            ]
        else:
            assertion.attribute_statement = []

        signer = {"other": self.other, "ec": self.ec}.get(opts.get("key"), self.server)
        sign_alg, digest_alg = ALGORITHMS[opts.get("algorithm", "sha256")]
        if opts.get("key") == "ec":
            sign_alg = SIG_ECDSA_SHA256
        to_sign = []
        # The assertion is signed first so that a response signature covers the signed assertion.
        if opts.get("sign_assertion", True):
            assertion.signature = pre_signature_part(
                assertion.id, signer.sec.my_cert, 2, sign_alg=sign_alg, digest_alg=digest_alg
            )
            to_sign.append((assertion.__class__.__name__, assertion.id))
        if opts.get("sign_response", False):
            response.signature = pre_signature_part(
                response.id, signer.sec.my_cert, 1, sign_alg=sign_alg, digest_alg=digest_alg
            )
            to_sign.append((response.__class__.__name__, response.id))
        if to_sign:
            xml = signed_instance_factory(response, signer.sec, to_sign)
        else:
            xml = response.to_string().decode()
        if isinstance(xml, bytes):
            xml = xml.decode()
        return xml

    def sso_redirect(self, saml_request, relay_state, sigalg=None, signature=None):
        """Parses the AuthnRequest (redirect binding; pysaml2 checks its signature when the IdP
        wants signed requests), logs the configured user in, returns the auto-posting form."""
        parsed = self.server.parse_authn_request(
            saml_request,
            BINDING_HTTP_REDIRECT,
            relay_state=relay_state,
            sigalg=sigalg,
            signature=signature,
        )
        request = parsed.message
        args = self.server.response_args(request, [BINDING_HTTP_POST])
        policy = request.name_id_policy
        with self.lock:
            self.requests.append(
                {
                    "id": request.id,
                    "issuer": request.issuer.text if request.issuer is not None else None,
                    "acs_url": request.assertion_consumer_service_url,
                    "destination": request.destination,
                    "protocol_binding": request.protocol_binding,
                    "name_id_format": policy.format if policy is not None else None,
                    "relay_state": relay_state,
                    "signed": sigalg is not None and signature is not None,
                }
            )
        xml = self.mint(
            {
                "in_response_to": request.id,
                "sign_response": self.sso_sign_response,
                "sign_assertion": self.sso_sign_assertion,
            }
        )
        encoded = base64.b64encode(xml.encode()).decode()
        fields = f'<input type="hidden" name="SAMLResponse" value="{encoded}"/>'
        if relay_state is not None:
            fields += (
                f'<input type="hidden" name="RelayState" value="{html.escape(relay_state, quote=True)}"/>'
            )
        destination = html.escape(args["destination"], quote=True)
        return (
            "<!DOCTYPE html><html><head><title>SAML login</title></head>"
            '<body onload="document.forms[0].submit()">'
            f'<form method="post" action="{destination}">{fields}'
            '<noscript><button type="submit">Continue</button></noscript></form></body></html>'
        )


def make_handler(idp):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):  # keep the test output clean
            return

        def _send(self, status, content_type, body):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            query = parse_qs(url.query)
            try:
                if url.path == "/metadata":
                    key = query.get("key", [None])[0]
                    self._send(200, "application/samlmetadata+xml", idp.metadata(key))
                elif url.path == "/sso/redirect":
                    saml_request = query.get("SAMLRequest", [None])[0]
                    if not saml_request:
                        self._send(400, "text/plain", "SAMLRequest missing")
                        return
                    relay_state = query.get("RelayState", [None])[0]
                    sigalg = query.get("SigAlg", [None])[0]
                    signature = query.get("Signature", [None])[0]
                    try:
                        page = idp.sso_redirect(saml_request, relay_state, sigalg, signature)
                    except IncorrectlySigned as exc:
                        self._send(403, "text/plain", f"request refused: {exc}")
                        return
                    self._send(200, "text/html; charset=utf-8", page)
                elif url.path == "/requests":
                    with idp.lock:
                        self._send(200, "application/json", json.dumps(idp.requests))
                else:
                    self._send(404, "text/plain", "not found")
            except Exception as exc:  # a test peer: report, don't die
                self._send(500, "text/plain", f"{type(exc).__name__}: {exc}")

        def do_POST(self):
            url = urlparse(self.path)
            if url.path != "/mint":
                self._send(404, "text/plain", "not found")
                return
            try:
                length = int(self.headers.get("Content-Length", "0"))
                opts = json.loads(self.rfile.read(length) or b"{}")
                xml = idp.mint(opts)
                body = {
                    "xml": xml,
                    "saml_response": base64.b64encode(xml.encode()).decode(),
                }
                self._send(200, "application/json", json.dumps(body))
            except Exception as exc:
                self._send(500, "text/plain", f"{type(exc).__name__}: {exc}")

    return Handler


def read_config():
    if len(sys.argv) > 1:
        argument = sys.argv[1]
        if argument.startswith("@"):
            with open(argument[1:], encoding="utf-8") as f:
                return json.load(f)
        return json.loads(argument)
    line = sys.stdin.readline()
    if not line.strip():
        return None
    return json.loads(line)


def main():
    config = read_config()
    if config is None:
        print("saml_idp.py: expected a JSON config (argument or first stdin line)", file=sys.stderr)
        return 2
    workdir = tempfile.mkdtemp(prefix="authx-saml-idp-")
    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), None)
        base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
        httpd.RequestHandlerClass = make_handler(Idp(config, base_url, workdir))
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        print(base_url, flush=True)
        # Serve until the parent closes our stdin (or dies): no orphaned test peers.
        while sys.stdin.readline():
            pass
        httpd.shutdown()
        httpd.server_close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
