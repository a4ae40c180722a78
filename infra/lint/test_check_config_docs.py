"""The configuration-docs check on made-up inputs: a variable missing from the table is caught
wherever it comes from, and the table's ways of naming variables are understood."""
import unittest

from check_config_docs import documented, env_file_variables, template_variables, undocumented

TABLE = """| variable | used by | default | meaning |
|---|---|---|---|
| `LAKE_BUCKET` | sink | required | bucket |
| `RUST_LOG` / `AWS_LAMBDA_LOG_LEVEL` | all | `info` | level, see `NOT_A_ROW_NAME` |
| `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` | local | - | keys |
"""

TEMPLATE = """  SinkFunction:
    Properties:
      Environment:
        Variables:
          LAKE_BUCKET: !Ref LakeBucket
          OUTPUT_FORMATS: !Ref OutputFormats
      Events:
"""


class ConfigurationDocs(unittest.TestCase):
    def test_first_column_names_are_documented_and_prose_names_are_not(self):
        names = documented(TABLE)
        self.assertEqual(names, {"LAKE_BUCKET", "RUST_LOG", "AWS_LAMBDA_LOG_LEVEL",
                                 "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})

    def test_a_template_variable_missing_from_the_table_is_caught(self):
        self.assertEqual(template_variables(TEMPLATE), {"LAKE_BUCKET", "OUTPUT_FORMATS"})
        self.assertEqual(undocumented(template_variables(TEMPLATE), TABLE), ["OUTPUT_FORMATS"])

    def test_an_env_file_variable_missing_from_the_table_is_caught(self):
        env = "# comment\nLAKE_BUCKET=data-lake\nLAMBDA_ENDPOINT=http://x\n"
        self.assertEqual(undocumented(env_file_variables(env), TABLE), ["LAMBDA_ENDPOINT"])


if __name__ == "__main__":
    unittest.main()
