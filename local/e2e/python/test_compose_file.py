"""docker-compose.yml, checked without a Docker engine: it is a valid Compose file by the Compose
Specification (the `compose_spec` parser, pinned from PyPI), every named volume a service mounts
is declared, and the broker and the store keep their data in volumes so that the original's
restart recipe, `docker compose down && docker compose up -d`, loses nothing. Its agreement
with infra/local/local.env (ports, topic, bucket, credentials) is local/e2e/tests/checks/compose.rs.
"""
import unittest
from pathlib import Path

import yaml
from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = (ROOT / "docker-compose.yml").read_text()


def problems(text):
    """What is wrong with a compose file's text: the parser's error, undeclared volumes, and
    services whose data would not survive `down`."""
    try:
        PyCompose.from_yaml(text).validate()
    except ValueError as error:
        return [f"not a valid Compose file: {error}"]
    found = []
    spec = yaml.safe_load(text)
    declared = set(spec.get("volumes") or {})
    for name, service in spec["services"].items():
        for mount in service.get("volumes") or []:
            source = mount.split(":", 1)[0] if isinstance(mount, str) else mount.get("source")
            if source and not source.startswith((".", "/", "~")) and source not in declared:
                found.append(f"{name} mounts the undeclared volume {source}")
    kafka = spec["services"]["kafka"]
    log_dir = (kafka.get("environment") or {}).get("KAFKA_LOG_DIRS")
    mounted = {str(m).split(":", 2)[1] for m in kafka.get("volumes") or [] if ":" in str(m)}
    if log_dir not in mounted:
        found.append(f"kafka's log ({log_dir}) is not in a volume: down would lose the topic")
    if "/data" not in {str(m).split(":", 2)[1] for m in spec["services"]["s3"].get("volumes") or []}:
        found.append("the store's /data is not in a volume: down would lose the lake")
    return found


class ComposeFile(unittest.TestCase):
    def test_the_compose_file_is_valid_and_keeps_its_data_in_volumes(self):
        self.assertEqual(problems(COMPOSE), [])

    def test_a_misspelt_key_is_refused(self):
        broken = COMPOSE.replace("    image: apache/kafka:3.9.1\n    environment:",
                                 "    imagee: apache/kafka:3.9.1\n    environment:", 1)
        self.assertNotEqual(broken, COMPOSE)
        self.assertRegex(" ".join(problems(broken)), "not a valid Compose file.*imagee")

    def test_an_undeclared_volume_is_refused(self):
        broken = COMPOSE.replace("- s3-data:/data", "- lake-data:/data")
        self.assertNotEqual(broken, COMPOSE)
        self.assertIn("s3 mounts the undeclared volume lake-data", problems(broken))

    def test_a_broker_without_a_volume_is_refused(self):
        broken = COMPOSE.replace("      - kafka-data:/var/lib/kafka/data\n", "")
        self.assertNotEqual(broken, COMPOSE)
        self.assertIn("kafka's log (/var/lib/kafka/data) is not in a volume: down would lose the topic",
                      problems(broken))


if __name__ == "__main__":
    unittest.main()
