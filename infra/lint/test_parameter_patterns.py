"""template.yaml's parameter patterns, read from the template and tried on values they must accept
and values they must refuse. CloudFormation applies an AllowedPattern as a Java regular
expression; the patterns keep to what Java and Python's `re` read alike (classes, groups,
alternation, counted repeats, a look-ahead, `\\s`), and each is anchored, so a full match here is
a match there. Only the standard library."""
import re
import unittest
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
ACCOUNT = "123456789012"
SECRET = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:"


def patterns(text):
    """{parameter: AllowedPattern} of the template's Parameters section."""
    body = re.search(r"^Parameters:\n(.*?)(?=^\S)", text, re.M | re.S).group(1)
    parts = re.split(r"^  ([A-Za-z0-9]+):\n", body, flags=re.M)
    found = {}
    for name, block in zip(parts[1::2], parts[2::2]):
        line = re.search(r"^    AllowedPattern: (.+)$", block, re.M)
        if line is None:
            continue
        value = line.group(1).strip()
        if value.startswith("'"):
            value = value[1:-1].replace("''", "'")
        elif value.startswith('"'):
            raise AssertionError(f"{name}: read a double-quoted pattern with its escapes")
        found[name] = value
    return found


PATTERNS = patterns(TEMPLATE.read_text(encoding="utf-8"))

# parameter -> (values it accepts, values it refuses)
CASES = {
    # N15: the full ARN of a secret MSK can use (AmazonMSK_ prefix, Secrets Manager's
    # -XXXXXX suffix), or empty; a partial ARN would match neither the IAM resource nor the KMS
    # encryption context the template rebuilds from it, and * or ? would be IAM wildcards there.
    "KafkaSaslSecretArn": (
        ["", f"{SECRET}AmazonMSK_users-AbC123", f"{SECRET}AmazonMSK_team/users-x1Y2z3",
         f"arn:aws-cn:secretsmanager:cn-north-1:{ACCOUNT}:secret:AmazonMSK_a-AbCdEf"],
        [f"{SECRET}foo", f"{SECRET}foo-AbCdEf", f"{SECRET}AmazonMSK_x", f"{SECRET}AmazonMSK_x-AbC12",
         "*", f"{SECRET}*", f"{SECRET}AmazonMSK_*-AbCdEf", f"{SECRET}AmazonMSK_x?-AbCdEf",
         "AmazonMSK_users-AbC123", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:AmazonMSK_u-AbC123\n"],
    ),
    # The sink trigger's schema registry: empty, a Glue registry's ARN or a Confluent https://
    # URL. Lambda's API takes the URI with the characters [a-zA-Z0-9-/*:_+=.@-] only, so no query,
    # fragment or credentials; a Glue ARN of another resource is refused.
    "SchemaRegistryUri": (
        ["", f"arn:aws:glue:eu-west-1:{ACCOUNT}:registry/users", f"arn:aws-cn:glue:cn-north-1:{ACCOUNT}:registry/a.b_c-1",
         "https://psrc-abc12.eu-west-1.aws.confluent.cloud", "https://registry.internal:8081/",
         "https://registry.internal:8081/sr/v1"],
        ["http://registry.internal:8081", f"arn:aws:glue:eu-west-1:{ACCOUNT}:schema/users/u",
         f"arn:aws:glue:eu-west-1:{ACCOUNT}:registry/", "https://user:pw@registry.internal",
         "https://registry.internal/?a=b", "registry.internal:8081", f"arn:aws:glue:eu-west-1:{ACCOUNT}:registry/*"],
    ),
    "SchemaRegistrySecretArn": (
        ["", f"{SECRET}registry/creds-AbC123", f"{SECRET}sr-AbCdEf"],
        [f"{SECRET}sr", f"{SECRET}*-AbCdEf", "*", f"{SECRET}sr-AbC12"],
    ),
    # N11: recurring schedules only. at(...) runs once, after which ProducerNotRunningAlarm
    # would stay in ALARM; Scheduler refuses seconds and a plural unit for 1 (or singular for N).
    # Rates slower than every two hours are accepted: docs/deploy.md section 7 (N11) says why.
    "ScheduleExpression": (
        ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(2 hours)", "rate(1 day)",
         "rate(10 days)", "cron(0/5 * * * ? *)", "cron(0 3 * * ? *)"],
        ["at(2026-12-31T00:00:00)", "at(2026-12-31T00:00:00) ", "rate(30 seconds)",
         "rate(0 minutes)", "rate(1 minutes)", "rate(2 minute)", "rate(01 minutes)",
         "cron(* * * * *)", "cron(0 3 * * ? * *)", "", "rate(1 minute) "],
    ),
    # N12: no IAM wildcard and no . or .. segment in the prefix.
    "LakePrefix": (
        ["", "lake/", "lake/raw/", "a.b/"],
        ["*", "a*/", "a?/", "lake", "/lake/", "./", "../", "a/../", ".hidden/"],
    ),
    "GlueDatabaseName": (["", "user_lake", "lake2"], ["User_Lake", "user-lake", "a b"]),
    "UsersPerRun": (["1", "100", "9999", "20000"], ["0", "20001", "1.5", "01", ""]),
    "ParquetCompression": (["zstd", "zstd(1)", "zstd(22)", "gzip(9)", "snappy", "none"],
                           ["zstd(23)", "gzip(10)", "ZSTD", "brotli"]),
}


class ParameterPatterns(unittest.TestCase):
    def test_every_case_names_a_pattern_of_the_template(self):
        self.assertLessEqual(set(CASES), set(PATTERNS))

    def test_each_pattern_accepts_and_refuses_what_it_should(self):
        for name, (accepted, refused) in CASES.items():
            pattern = re.compile(PATTERNS[name])
            for value in accepted:
                self.assertTrue(pattern.fullmatch(value), f"{name} refuses {value!r}")
            for value in refused:
                self.assertFalse(pattern.fullmatch(value), f"{name} accepts {value!r}")

    def test_the_loosened_patterns_are_caught(self):
        # What the patterns were before: each lets a refused value through, which the test above
        # reports.
        loose = {"KafkaSaslSecretArn": r"^$|^arn:aws[a-zA-Z-]*:secretsmanager:.+$",
                 "ScheduleExpression": r"^(rate|cron|at)\(.+\)$"}
        for name, pattern in loose.items():
            refused = CASES[name][1]
            self.assertTrue(any(re.fullmatch(pattern, v) for v in refused), name)


if __name__ == "__main__":
    unittest.main()
