# tests/integration/sasl_client.py: the client side of the SASL mechanisms
# postino offers (PLAIN RFC 4616, LOGIN, SCRAM-SHA-256 RFC 5802/7677),
# written from the RFCs so the tests do not depend on a client library
# that happens to support them.
import base64
import hashlib
import hmac
import os


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    if isinstance(text, bytes):
        text = text.decode()
    return base64.b64decode(text, validate=True)


def plain(user, password, authzid=""):
    """The PLAIN response (RFC 4616 2), base64."""
    return b64(f"{authzid}\0{user}\0{password}")


def _saslname(name):
    # RFC 5802 5.1: "," and "=" are escaped in the username.
    return name.replace("=", "=3D").replace(",", "=2C")


class Scram:
    """One SCRAM-SHA-256 exchange, client side."""

    def __init__(self, user, password, authzid="", nonce=None):
        self.user = user
        self.password = password
        self.gs2 = "n," + (f"a={_saslname(authzid)}" if authzid else "") + ","
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.bare = f"n={_saslname(user)},r={self.nonce}"
        self.server_signature = None

    def first(self):
        """client-first-message, base64."""
        return b64(self.gs2 + self.bare)

    def final(self, server_first_b64, proof_ok=True):
        """client-final-message for the server-first (base64 in, base64 out)."""
        server_first = unb64(server_first_b64).decode()
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.nonce), f"server nonce does not extend ours: {server_first}"
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        assert iterations >= 4096, "RFC 7677 4: at least 4096 iterations"
        salted = hashlib.pbkdf2_hmac("sha256", self.password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = f"c={b64(self.gs2)},r={attrs['r']}"
        auth_message = f"{self.bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        if not proof_ok:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
        self.server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
        return b64(f"{without_proof},p={b64(proof)}")

    def check_server_final(self, server_final_b64):
        """True when the server proved it knows the keys (RFC 5802 3)."""
        text = unb64(server_final_b64).decode()
        return text == "v=" + b64(self.server_signature)
