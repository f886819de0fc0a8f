"""The shipped Mosquitto configuration (`hub/mosquitto/`), rendered for a broker on this machine.

The demo, the load harness and the tests run the broker exactly as a site does: passwords made by
`make-passwd.sh`, the shipped ACL, `use_username_as_clientid`, plain MQTT on loopback for the hub and a
TLS listener (certificate from a throwaway `LocalCa`) for the devices. Only ports, file locations and the
autosave interval differ (1 s, so a killed broker loses at most a second of sessions).
"""

from __future__ import annotations

import getpass
import os
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hub.localca import LocalCa

SHIPPED = Path(__file__).resolve().parents[2] / "hub" / "mosquitto"
HUB_USER = "facefleet-hub"
MONITOR_USER = "facefleet-monitor"


@dataclass(frozen=True)
class BrokerSetup:
    """Everything a client of the rendered broker needs: ports, the CA, and each user's password."""

    conf: Path
    plain_port: int
    tls_port: int
    ca: LocalCa
    passwords: dict[str, str]

    @property
    def ca_file(self) -> Path:
        return self.ca.cert_file


def prepare_broker(
    workdir: Path, devices: list[str], plain_port: int, tls_port: int, observers: tuple[str, ...] = ()
) -> BrokerSetup:
    """Passwords for the hub, the monitor and `devices`, a broker certificate, and the rendered config.

    `observers` are more read-only users like `facefleet-monitor` (tests that watch with several clients
    at once: with client ids tied to user names, two clients of one user would keep kicking each other).
    """
    folder = workdir / "mosquitto"
    folder.mkdir(parents=True, exist_ok=True)
    ca = LocalCa(folder / "tls")
    broker_cert = ca.issue("broker", hosts=("localhost", "127.0.0.1"))
    (folder / "devices.txt").write_text("".join(f"{d}\n" for d in devices))
    subprocess.run(
        ["sh", str(SHIPPED / "make-passwd.sh"), str(folder / "devices.txt"), str(folder / "out")],
        check=True,
        capture_output=True,
        timeout=120,
    )
    passwords = {}
    for env in sorted((folder / "out" / "credentials").glob("*.env")):
        values = dict(line.split("=", 1) for line in env.read_text().split())
        passwords[values["MQTT_USERNAME"]] = values["MQTT_PASSWORD"]
    acl = (SHIPPED / "facefleet.acl").read_text()
    for name in observers:
        passwords[name] = secrets.token_hex(16)
        subprocess.run(
            ["mosquitto_passwd", "-b", str(folder / "out" / "facefleet.passwd"), name, passwords[name]],
            check=True,
            capture_output=True,
            timeout=60,
        )
        acl += f"\nuser {name}\ntopic read facefleet/#\ntopic deny facefleet/+/collect\n"  # as the monitor
    (folder / "facefleet.acl").write_text(acl)
    lines = {  # whole lines
        "listener 1883 127.0.0.1": f"listener {plain_port} 127.0.0.1",
        "listener 8883": f"listener {tls_port} 127.0.0.1",
        "autosave_interval 60": "autosave_interval 1",
    }
    paths = {
        "/etc/mosquitto/facefleet.passwd": str(folder / "out" / "facefleet.passwd"),
        "/etc/mosquitto/facefleet.acl": str(folder / "facefleet.acl"),
        "/etc/mosquitto/certs/ca.crt": str(ca.cert_file),
        "/etc/mosquitto/certs/broker.crt": str(broker_cert.cert),
        "/etc/mosquitto/certs/broker.key": str(broker_cert.key),
    }
    text = (SHIPPED / "mosquitto.conf").read_text()
    for shipped, local in lines.items():
        text = re.sub(rf"^{re.escape(shipped)}$", local, text, flags=re.MULTILINE)
    for shipped, local in paths.items():
        text = text.replace(shipped, local)
    # As root, Mosquitto drops to its own user, which can read neither the password file (mode 600) nor
    # write `workdir`: run it as whoever we are.
    user = "root" if os.geteuid() == 0 else getpass.getuser()
    conf = folder / "mosquitto.conf"
    conf.write_text(text + f"\npersistence_location {folder}/\nuser {user}\n")
    return BrokerSetup(conf, plain_port, tls_port, ca, passwords)
