"""Tests table_matches_topic.py's comparison of the table's rows with the topic's messages (the
part that decides; reading the topic is exercised by `make demo`).

    python3 -m unittest local/e2e/python/test_table_matches_topic.py -v
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import table_matches_topic as check  # noqa: E402

TOPIC = "users_created"
RECORD = {"id": "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e01", "first_name": "Zoë", "last_name": "Ørsted",
          "gender": "female", "address": "1 Main St", "post_code": 1012, "email": "z@example.com",
          "username": "zoe", "dob": "1987-05-04T10:11:12.345Z",
          "registered_date": "2015-02-03T04:05:06+00:00", "phone": "22",
          "picture": "https://randomuser.me/api/portraits/women/1.jpg"}
TIMESTAMP_MS = 1_795_525_198_100


def table_row():
    """The row read_table.py writes for RECORD at partition 1, offset 7."""
    return {**RECORD, "post_code": "1012", "dob": "1987-05-04T10:11:12.345Z",
            "registered_date": "2015-02-03T04:05:06.000Z",
            "kafka_timestamp": check.format_ms(TIMESTAMP_MS), "kafka_topic": TOPIC,
            "kafka_partition": 1, "kafka_offset": 7}


def messages():
    return {(1, 7): (json.dumps(RECORD).encode(), TIMESTAMP_MS), (1, 8): (b"not json", TIMESTAMP_MS)}


class CompareTest(unittest.TestCase):
    def test_a_row_equal_to_its_message_matches_and_a_poison_message_is_only_counted(self):
        matched, mismatches = check.compare([table_row()], messages(), TOPIC)
        self.assertEqual((matched, mismatches), (1, []))

    def test_a_field_that_differs_is_a_mismatch_naming_the_field(self):
        row = {**table_row(), "last_name": "Orsted"}
        matched, mismatches = check.compare([row], messages(), TOPIC)
        self.assertEqual(matched, 0)
        self.assertEqual(list(mismatches[0]["fields"]), ["last_name"])

    def test_a_time_off_by_a_millisecond_is_a_mismatch(self):
        row = {**table_row(), "kafka_timestamp": check.format_ms(TIMESTAMP_MS + 1)}
        _, mismatches = check.compare([row], messages(), TOPIC)
        self.assertEqual(list(mismatches[0]["fields"]), ["kafka_timestamp"])

    def test_an_instant_is_read_to_the_exact_millisecond_before_and_after_1970(self):
        # a float of seconds would make 20:02:27.314 a millisecond short
        self.assertEqual(check.format_ms(check.instant_ms("2004-02-27T20:02:27.314Z")),
                         "2004-02-27T20:02:27.314Z")
        self.assertEqual(check.format_ms(check.instant_ms("1965-09-26T07:01:44.755+00:00")),
                         "1965-09-26T07:01:44.755Z")

    def test_a_user_twice_or_a_row_without_a_message_is_a_mismatch(self):
        stray = {**table_row(), "id": "00000000-0000-4000-8000-000000000001", "kafka_offset": 9}
        _, mismatches = check.compare([table_row(), table_row(), stray], messages(), TOPIC)
        self.assertEqual([m["problem"] for m in mismatches], ["id twice", "no such message"])


if __name__ == "__main__":
    unittest.main()
