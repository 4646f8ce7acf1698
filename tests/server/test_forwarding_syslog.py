"""Syslog forwarding into a real rsyslog: RFC 5424 over TLS (RFC 5425) with client certificates.

The test makes a throwaway CA with ``cryptography``, starts ``rsyslogd`` with an ``imtcp``
listener on the ``gtls`` driver that requires a client certificate signed by that CA
(``x509/certvalid``), and reads back the file rsyslog writes: every event arrives once, parsed
by rsyslog as RFC 5424 with the structured data (id, type, index, checkpoint) and the
canonical JSON as the message. Plain TCP and UDP go to the same rsyslog without TLS.
"""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from auditlens.core.note import verify_checkpoint
from tests.server.conftest import Api, running_api
from tests.server.siem_receivers import wait_for
from tests.server.test_crash import _free_port
from tests.server.test_forwarding import ingest, remove, status

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
pytestmark = pytest.mark.skipif(
    not Path(RSYSLOGD).exists() or not list(Path("/usr/lib").glob("*/rsyslog/lmnsd_gtls.so")),
    reason="needs rsyslog with TLS (apt-get install rsyslog rsyslog-gnutls)",
)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def make_pki(where: Path) -> dict[str, Path]:
    """A CA, a server certificate for 127.0.0.1/localhost and a client certificate."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("auditlens test CA"))
        .issuer_name(_name("auditlens test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = {"ca": where / "ca.pem"}
    paths["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for who, usage in (
        ("server", ExtendedKeyUsageOID.SERVER_AUTH),
        ("client", ExtendedKeyUsageOID.CLIENT_AUTH),
    ):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"auditlens test {who}"))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        paths[f"{who}_cert"] = where / f"{who}.pem"
        paths[f"{who}_cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        paths[f"{who}_key"] = where / f"{who}.key"
        _write_key(paths[f"{who}_key"], key)
    return paths


class Rsyslog:
    """A private rsyslogd: TLS, plain TCP and UDP listeners, everything into one file."""

    def __init__(self, where: Path) -> None:
        where.mkdir(parents=True, exist_ok=True)
        self.pki = make_pki(where)
        self.out = where / "received.log"
        self.tls_port, self.tcp_port, self.udp_port = _free_port(), _free_port(), _free_port()
        work = where / "work"
        work.mkdir()
        conf = where / "rsyslog.conf"
        conf.write_text(
            f"""
global(workDirectory="{work}" maxMessageSize="128k"
       defaultNetstreamDriver="gtls"
       defaultNetstreamDriverCAFile="{self.pki["ca"]}"
       defaultNetstreamDriverCertFile="{self.pki["server_cert"]}"
       defaultNetstreamDriverKeyFile="{self.pki["server_key"]}")
module(load="imtcp" maxSessions="50")
module(load="imudp")
input(type="imtcp" port="{self.tls_port}" name="tls" streamDriver.name="gtls"
      streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
input(type="imtcp" port="{self.tcp_port}" name="tcp" streamDriver.name="ptcp")
input(type="imudp" port="{self.udp_port}" name="udp")
template(name="fields" type="list") {{
  property(name="inputname") constant(value="\\t")
  property(name="pri") constant(value="\\t")
  property(name="protocol-version") constant(value="\\t")
  property(name="hostname") constant(value="\\t")
  property(name="app-name") constant(value="\\t")
  property(name="msgid") constant(value="\\t")
  property(name="structured-data") constant(value="\\t")
  property(name="msg" droplastlf="on") constant(value="\\n")
}}
*.* action(type="omfile" file="{self.out}" template="fields")
"""
        )
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", str(conf), "-i", str(where / "rsyslogd.pid")],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        time.sleep(1.0)
        if self.proc.poll() is not None:
            output = self.proc.stdout.read().decode() if self.proc.stdout else ""
            raise RuntimeError(f"rsyslogd did not start: {output}")

    def lines(self) -> list[list[str]]:
        if not self.out.exists():
            return []
        return [line.split("\t") for line in self.out.read_text("utf-8").splitlines() if line]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)
        if self.proc.stdout:
            self.proc.stdout.close()


@pytest.fixture(scope="module")
def rsyslog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rsyslog]:
    daemon = Rsyslog(tmp_path_factory.mktemp("rsyslog"))
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    with running_api("sqlite", tmp_path_factory.mktemp("api"), forwarding_scan_seconds=0.1) as a:
        yield a


def _add(api: Api, config: dict[str, Any]) -> dict[str, Any]:
    body = {
        "name": "rsyslog",
        "kind": "syslog",
        "config": {"host": "127.0.0.1", "types": ["agent"], "max_wait_seconds": 0.05, **config},
    }
    r = api.http.post("/v1/forwarders", json=body, headers=api.auth("admin"))
    assert r.status_code == 201, r.text
    return dict(r.json())


def _sd_params(sd: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in sd.strip("[]").split(" ")[1:])


@pytest.mark.parametrize("transport", ["tls", "tcp", "udp"])
def test_rsyslog_receives_rfc5424_with_structured_data(
    api: Api, rsyslog: Rsyslog, transport: str
) -> None:
    config: dict[str, Any] = {"transport": transport}
    if transport == "tls":
        config |= {
            "port": rsyslog.tls_port,
            "ca_file": str(rsyslog.pki["ca"]),
            "cert_file": str(rsyslog.pki["client_cert"]),
            "key_file": str(rsyslog.pki["client_key"]),
        }
    else:
        config["port"] = rsyslog.tcp_port if transport == "tcp" else rsyslog.udp_port
    fwd = _add(api, config)
    count = 20 if transport == "udp" else 300  # UDP drops what a burst overflows: a relay only
    first, last = ingest(api, count)

    def mine() -> list[list[str]]:
        return [f for f in rsyslog.lines() if f[0] == transport]

    wait_for(lambda: len(mine()) >= count, what=f"rsyslog lines over {transport}")
    got = mine()
    assert len(got) == count
    _, pri, version, _host, app, msgid, sd, msg = got[0]
    assert version == "1" and app == "auditlens" and msgid == "agent.action"
    assert pri in ("110", "109")  # log audit facility, info or notice
    assert sd.startswith("[auditlens@32473 ")
    params = _sd_params(sd)
    assert int(params["index"].strip('"')) == first
    event = json.loads(msg[msg.index("{") :])
    assert params["id"].strip('"') == event["id"]
    note = base64.b64decode(params["checkpoint"].strip('"')).decode()
    cp = verify_checkpoint(note, api.state.vkey, api.orgs["acme"].org.origin)
    assert cp.size > first
    indexes = [
        int(dict(p.split("=", 1) for p in f[6].strip("[]").split(" ")[1:])["index"].strip('"'))
        for f in got
    ]
    assert indexes == list(range(first, last + 1))
    assert status(api, fwd)["last_error"] is None
    remove(api, fwd)
