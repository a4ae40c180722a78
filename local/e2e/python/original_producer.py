"""Produces users to the topic exactly as the original Python pipeline did: its `format_data`
flattening of a randomuser.me response, `json.dumps(record).encode()` as the value (the default
separators and `\\uXXXX` escapes), kafka-python's KafkaProducer, and no key.

    python original_producer.py BROKERS TOPIC USERS_API_URL COUNT OUT.jsonl

The users come from the API as it answers (numeric post codes for some nationalities, text for
others). Each record sent is appended to OUT.jsonl as the dict it was built from; one JSON
summary line is printed: {"sent": N, "numeric_post_codes": M, "text_post_codes": K}.
"""
import json
import sys
import urllib.request
import uuid

from kafka import KafkaProducer


def format_data(res):
    """The original's flattening of one randomuser.me result."""
    location = res["location"]
    return {
        "id": str(uuid.uuid4()),
        "first_name": res["name"]["first"],
        "last_name": res["name"]["last"],
        "gender": res["gender"],
        "address": f"{location['street']['number']} {location['street']['name']}, "
                   f"{location['city']}, {location['state']}, {location['country']}",
        "post_code": location["postcode"],
        "email": res["email"],
        "username": res["login"]["username"],
        "dob": res["dob"]["date"],
        "registered_date": res["registered"]["date"],
        "phone": res["phone"],
        "picture": res["picture"]["medium"],
    }


def main():
    brokers, topic, api, count, out = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
    url = f"{api}?results={count}&nat=us,fr,de,gb,nl,ca,au,tr&seed=original-producer"
    with urllib.request.urlopen(url, timeout=30) as response:
        results = json.load(response)["results"]
    producer = KafkaProducer(bootstrap_servers=brokers.split(","), acks="all")
    numeric = text = 0
    with open(out, "a", encoding="utf-8") as sent:
        for res in results:
            record = format_data(res)
            if isinstance(record["post_code"], str):
                text += 1
            else:
                numeric += 1
            producer.send(topic, json.dumps(record).encode())
            sent.write(json.dumps(record) + "\n")
    producer.flush(timeout=30)
    producer.close()
    print(json.dumps({"sent": len(results), "numeric_post_codes": numeric, "text_post_codes": text}))


if __name__ == "__main__":
    main()
