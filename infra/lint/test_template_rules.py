"""The template rules on made-up translated templates: a stack as it is meant passes, and each rule
fails when its fault is put back."""
import copy
import json
import unittest

from template_rules import violations


def sub(key):
    return {"Fn::Sub": f"${{LakeBucket.Arn}}/${{LakePrefix}}{key}"}


def if_files(files, table):
    return {"Fn::If": ["IsFiles", files, table]}


FILES_KEYS = [sub("users/*"), sub("users_jsonl/*"), sub("users_csv/*"), sub("_errors/*")]
TABLE_KEYS = [sub("_errors/*")]


def good():
    """The shape the SAM transform gives the project's template, reduced to what the rules read."""
    def schedule(function):
        return {"Type": "AWS::Scheduler::Schedule", "Properties": {
            "ScheduleExpression": "rate(1 hour)",
            "Target": {"Arn": {"Fn::GetAtt": [function, "Arn"]}, "RetryPolicy": {"MaximumRetryAttempts": 0}}}}

    def no_retry(function):
        return {"Type": "AWS::Lambda::EventInvokeConfig", "Properties": {
            "FunctionName": {"Ref": function}, "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60}}

    return {"Parameters": {
        "LakeFormat": {"Type": "String", "Default": "iceberg", "AllowedValues": ["iceberg", "files"]},
        "LakePrefix": {"Type": "String", "Default": ""},
    }, "Conditions": {
        "IsFiles": {"Fn::Equals": [{"Ref": "LakeFormat"}, "files"]},
    }, "Resources": {
        "LakeBucket": {"Type": "AWS::S3::Bucket"},
        "FailedBatchBucket": {"Type": "AWS::S3::Bucket"},
        "SinkFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Role": {"Fn::GetAtt": ["SinkRole", "Arn"]},
            "Environment": {"Variables": {"LAKE_BUCKET": {"Ref": "LakeBucket"}}}}},
        "SinkFunctionUsersTopic": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
            "FunctionName": {"Ref": "SinkFunction"},
            "EventSourceArn": {"Ref": "MskClusterArn"},
            "Topics": ["users_created"],
            "ProvisionedPollerConfig": {"MinimumPollers": 1, "MaximumPollers": 3},
            "MaximumRetryAttempts": 10,
            "MaximumRecordAgeInSeconds": -1,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}}}}},
        "SinkRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
            {"PolicyName": "logs", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": ["logs:PutLogEvents"], "Resource": "*"}]}},
            {"PolicyName": "lake-write", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "s3:PutObject",
                 "Resource": if_files(copy.deepcopy(FILES_KEYS), copy.deepcopy(TABLE_KEYS))}]}},
            {"PolicyName": "failed-batch-destination", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}},
                {"Effect": "Allow", "Action": "s3:PutObject",
                 "Resource": {"Fn::Sub": "${FailedBatchBucket.Arn}/*"}}]}}]}},
        "ProducerFunction": {"Type": "AWS::Lambda::Function", "Properties": {}},
        "ProducerFunctionSchedule": schedule("ProducerFunction"),
        "ProducerFunctionEventInvokeConfig": no_retry("ProducerFunction"),
        "CompactorFunction": {"Type": "AWS::Lambda::Function", "Properties": {
            "Role": {"Fn::GetAtt": ["CompactorRole", "Arn"]},
            "Environment": {"Variables": {"LAKE_BUCKET": {"Ref": "LakeBucket"},
                                          "COMPACTION_TARGET_MIB": {"Ref": "CompactionTargetMib"}}}}},
        "CompactorRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
            {"PolicyName": "lake-compact", "PolicyDocument": {"Statement": [
                if_files({"Effect": "Allow",
                          "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                          "Resource": sub("users/*")}, {"Ref": "AWS::NoValue"}),
                {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                 "Resource": sub("_compactor/*")}]}}]}},
        "ReplayRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
            {"PolicyName": "lake-replay", "PolicyDocument": {"Statement": [
                if_files({"Effect": "Allow", "Action": "s3:ListBucket",
                          "Resource": {"Fn::GetAtt": ["LakeBucket", "Arn"]},
                          "Condition": {"StringLike": {"s3:prefix": [
                              {"Fn::Sub": "${LakePrefix}users/"},
                              {"Fn::Sub": "${LakePrefix}users/*"}]}}},
                         {"Ref": "AWS::NoValue"}),
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                 "Resource": if_files(copy.deepcopy(FILES_KEYS), copy.deepcopy(TABLE_KEYS))}]}},
            {"PolicyName": "lake-table", "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "s3:ListBucket",
                 "Resource": {"Fn::GetAtt": ["LakeBucket", "Arn"]},
                 "Condition": {"StringLike": {"s3:prefix": [
                     {"Fn::Sub": "${LakePrefix}iceberg/users/"},
                     {"Fn::Sub": "${LakePrefix}iceberg/users/*"}]}}},
                {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject"],
                 "Resource": sub("iceberg/users/*")}]}}]}},
        "CompactorFunctionHourly": schedule("CompactorFunction"),
        "CompactorFunctionEventInvokeConfig": no_retry("CompactorFunction"),
        "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {"DashboardBody": {
            "Fn::Sub": json.dumps({"widgets": [{"type": "metric", "properties": {"metrics": [
                ["${MetricsNamespace}", "RecordsWritten", "FunctionName", "${SinkFunction}"],
                ["AWS/Lambda", "OffsetLag", "FunctionName", "${SinkFunction}"]]}}]})}}},
    }}


def broken(change):
    template = good()
    change(template["Resources"])
    return violations(template)


def mapping(resources):
    return resources["SinkFunctionUsersTopic"]["Properties"]


def lake_grants(resources):
    return resources["SinkRole"]["Properties"]["Policies"][1]["PolicyDocument"]["Statement"][0]


def layout_keys(resources, role="SinkRole", statement=0):
    """The files layout's and the table layout's Resource lists of a role's lake statement."""
    policy = resources[role]["Properties"]["Policies"][1 if role == "SinkRole" else 0]
    return policy["PolicyDocument"]["Statement"][statement]["Resource"]["Fn::If"][1:]


def compactor_statements(resources):
    return resources["CompactorRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]


def rule(found, name):
    return [v for v in found if v["rule"] == name]


class TemplateRules(unittest.TestCase):
    def assertBroken(self, found, rule, words):
        self.assertTrue(any(v["rule"] == rule and words in v["problem"] for v in found),
                        f"expected {rule} ({words!r}) in {found}")

    def test_the_stack_as_it_is_meant_passes(self):
        self.assertEqual(violations(good()), [])

    # kafka-retries

    def test_retries_left_at_the_default_are_caught(self):
        found = broken(lambda r: mapping(r).pop("MaximumRetryAttempts"))
        self.assertBroken(found, "kafka-retries", "MaximumRetryAttempts is not set")

    def test_infinite_retries_are_caught(self):
        found = broken(lambda r: mapping(r).update(MaximumRetryAttempts=-1))
        self.assertBroken(found, "kafka-retries", "MaximumRetryAttempts is -1")

    def test_a_missing_failure_destination_is_caught(self):
        found = broken(lambda r: mapping(r).pop("DestinationConfig"))
        self.assertBroken(found, "kafka-retries", "no DestinationConfig.OnFailure.Destination")

    def test_retry_controls_without_provisioned_mode_are_caught(self):
        found = broken(lambda r: mapping(r).pop("ProvisionedPollerConfig"))
        self.assertBroken(found, "kafka-retries", "provisioned mode")

    def test_a_maximum_record_age_that_skips_records_is_caught(self):
        found = broken(lambda r: mapping(r).update(MaximumRecordAgeInSeconds=3600))
        self.assertBroken(found, "kafka-retries", "MaximumRecordAgeInSeconds is 3600")

    def test_no_kafka_trigger_at_all_is_caught(self):
        found = broken(lambda r: r.pop("SinkFunctionUsersTopic"))
        self.assertBroken(found, "kafka-retries", "no Kafka event source mapping")

    def test_a_mapping_of_another_source_is_not_held_to_the_kafka_rule(self):
        def add_queue_mapping(r):
            r["QueueMapping"] = {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                "FunctionName": {"Ref": "ProducerFunction"},
                "EventSourceArn": {"Fn::GetAtt": ["Queue", "Arn"]}}}
        self.assertEqual(broken(add_queue_mapping), [])

    # scheduled-no-retry

    def test_a_scheduled_function_without_event_invoke_config_is_caught(self):
        found = broken(lambda r: r.pop("CompactorFunctionEventInvokeConfig"))
        self.assertBroken(found, "scheduled-no-retry", "no EventInvokeConfig for $LATEST")

    def test_an_event_invoke_config_that_retries_is_caught(self):
        def retries(r):
            r["ProducerFunctionEventInvokeConfig"]["Properties"]["MaximumRetryAttempts"] = 2
        self.assertBroken(broken(retries), "scheduled-no-retry", "MaximumRetryAttempts to 0")

    def test_an_event_invoke_config_of_another_function_does_not_count(self):
        def misplaced(r):
            r["ProducerFunctionEventInvokeConfig"]["Properties"]["FunctionName"] = {"Ref": "SinkFunction"}
        found = broken(misplaced)
        self.assertBroken(found, "scheduled-no-retry", "ProducerFunctionSchedule")

    def test_an_eventbridge_rule_schedule_is_held_to_the_same_rule(self):
        def rule_instead(r):
            r.pop("ProducerFunctionSchedule")
            r.pop("ProducerFunctionEventInvokeConfig")
            r["ProducerFunctionTick"] = {"Type": "AWS::Events::Rule", "Properties": {
                "ScheduleExpression": "rate(1 minute)",
                "Targets": [{"Id": "t", "Arn": {"Fn::GetAtt": ["ProducerFunction", "Arn"]}}]}}
        self.assertBroken(broken(rule_instead), "scheduled-no-retry", "ProducerFunctionTick")

    def test_a_schedule_on_an_alias_needs_the_config_of_that_alias(self):
        def via_alias(r):
            r["ProducerFunctionAliaslive"] = {"Type": "AWS::Lambda::Alias", "Properties": {
                "FunctionName": {"Ref": "ProducerFunction"}, "Name": "live"}}
            r["ProducerFunctionSchedule"]["Properties"]["Target"]["Arn"] = {"Ref": "ProducerFunctionAliaslive"}
        self.assertBroken(broken(via_alias), "scheduled-no-retry", "no EventInvokeConfig for live")

    # sink-writes-lake

    def test_each_missing_lake_root_is_caught_in_the_layouts_that_write_it(self):
        layouts = {"users": ["files"], "users_jsonl": ["files"], "users_csv": ["files"],
                   "_errors": ["iceberg", "files"]}
        for root, where in layouts.items():
            with self.subTest(root=root):
                def drop(r, root=root):
                    for keys in layout_keys(r):
                        keys[:] = [x for x in keys if not x["Fn::Sub"].endswith(f"}}{root}/*")]
                found = broken(drop)
                self.assertEqual(len(found), len(where), found)
                for layout in where:
                    self.assertBroken(found, "sink-writes-lake",
                                      f"LakeFormat {layout}: no s3:PutObject on "
                                      f"${{LakeBucket.Arn}}/${{LakePrefix}}{root}/*")

    def test_the_table_layout_needs_no_files_root(self):
        # what the template grants with LakeFormat iceberg: _errors/ only
        template = good()
        self.assertEqual(layout_keys(template["Resources"])[1], TABLE_KEYS)
        self.assertEqual(violations(template), [])

    def test_a_grant_of_another_action_does_not_count(self):
        found = broken(lambda r: lake_grants(r).update(Action=["s3:GetObject"]))
        self.assertEqual(len(rule(found, "sink-writes-lake")), 4 + 1, found)

    def test_a_grant_in_another_bucket_does_not_count(self):
        def other_bucket(r):
            for keys in layout_keys(r):
                keys[:] = [{"Fn::Sub": x["Fn::Sub"].replace("LakeBucket", "FailedBatchBucket")}
                           for x in keys]
        found = broken(other_bucket)
        self.assertEqual(len(rule(found, "sink-writes-lake")), 4 + 1, found)

    def test_a_deny_does_not_count_as_a_grant(self):
        found = broken(lambda r: lake_grants(r).update(Effect="Deny"))
        self.assertEqual(len(rule(found, "sink-writes-lake")), 4 + 1, found)

    def test_a_wider_grant_in_the_files_layout_covers_the_roots(self):
        def wider(r):
            lake_grants(r).update(Action="s3:Put*")
            layout_keys(r)[0][:] = [sub("*")]
        self.assertEqual(broken(wider), [])

    def test_the_same_grant_for_every_layout_is_caught_in_the_table_layout(self):
        # the template before the grants followed the layout: every root, whatever LakeFormat
        found = broken(lambda r: lake_grants(r).update(Resource=copy.deepcopy(FILES_KEYS)))
        self.assertEqual(len(found), 3, found)
        for root in ("users", "users_jsonl", "users_csv"):
            self.assertBroken(found, "files-roots-only-with-files",
                              f"LakeFormat iceberg: s3:PutObject on "
                              f"${{LakeBucket.Arn}}/${{LakePrefix}}{root}/*")

    def test_a_table_layout_role_granted_users_csv_is_caught(self):
        for role in ("SinkRole", "ReplayRole"):
            with self.subTest(role=role):
                def add_csv(r, role=role):
                    layout_keys(r, role, 0 if role == "SinkRole" else 1)[1].append(
                        sub("users_csv/*"))
                found = broken(add_csv)
                self.assertEqual(len(found), 1 if role == "SinkRole" else 2, found)
                self.assertTrue(all(v["resource"] == role for v in found), found)
                self.assertBroken(found, "files-roots-only-with-files",
                                  "LakeFormat iceberg: s3:PutObject on "
                                  "${LakeBucket.Arn}/${LakePrefix}users_csv/*")

    def test_a_wider_grant_in_the_table_layout_is_caught(self):
        def wider(r):
            layout_keys(r)[1][:] = [sub("*")]
        found = broken(wider)
        self.assertEqual(len(found), 3, found)
        self.assertBroken(found, "files-roots-only-with-files", "users_csv/*")

    def test_a_table_layout_listing_of_users_is_caught(self):
        def listing(r, prefixes):
            statement = r["ReplayRole"]["Properties"]["Policies"][0]["PolicyDocument"][
                "Statement"][0]["Fn::If"][1]
            if prefixes is None:
                statement.pop("Condition")
            else:
                statement["Condition"]["StringLike"]["s3:prefix"] = prefixes
            r["ReplayRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0] = \
                statement
        for prefixes, reached in (
                ([{"Fn::Sub": "${LakePrefix}users/"}], ["users"]),
                ([{"Fn::Sub": "${LakePrefix}users/dt=*"}], ["users"]),
                ([{"Fn::Sub": "${LakePrefix}*"}], ["users", "users_jsonl", "users_csv"]),
                (None, ["users", "users_jsonl", "users_csv"]),
                ([{"Fn::Sub": "${LakePrefix}_errors/"}], [])):
            with self.subTest(prefixes=prefixes):
                found = broken(lambda r, p=prefixes: listing(r, p))
                self.assertEqual(len(found), len(reached), found)
                for root in reached:
                    self.assertBroken(found, "files-roots-only-with-files",
                                      f"LakeFormat iceberg: s3:ListBucket on LakeBucket reaches "
                                      f"${{LakePrefix}}{root}/")

    def test_a_grant_in_a_separate_policy_resource_counts(self):
        def separate(r):
            statement = r["SinkRole"]["Properties"]["Policies"].pop(1)["PolicyDocument"]
            r["SinkLakePolicy"] = {"Type": "AWS::IAM::Policy", "Properties": {
                "Roles": [{"Ref": "SinkRole"}], "PolicyDocument": statement}}
        self.assertEqual(broken(separate), [])

    def test_a_policy_resource_left_out_by_its_condition_does_not_count(self):
        def files_only(r):
            statement = r["SinkRole"]["Properties"]["Policies"].pop(1)["PolicyDocument"]
            r["SinkLakePolicy"] = {"Type": "AWS::IAM::Policy", "Condition": "IsFiles",
                                   "Properties": {"Roles": [{"Ref": "SinkRole"}],
                                                  "PolicyDocument": statement}}
        found = broken(files_only)
        self.assertEqual(len(found), 1, found)
        self.assertBroken(found, "sink-writes-lake", "LakeFormat iceberg: no s3:PutObject on "
                                                     "${LakeBucket.Arn}/${LakePrefix}_errors/*")

    def test_the_sink_is_the_function_behind_the_kafka_mapping(self):
        def other_role(r):
            r["OtherRole"] = copy.deepcopy(r["SinkRole"])
            r["SinkRole"]["Properties"]["Policies"].pop(1)
        found = broken(other_role)
        self.assertEqual(len(rule(found, "sink-writes-lake")), 4 + 1, found)

    def test_a_failure_destination_the_sink_cannot_write_is_caught(self):
        for action in ("s3:ListBucket", "s3:PutObject"):
            with self.subTest(action=action):
                def drop(r, action=action):
                    policy = r["SinkRole"]["Properties"]["Policies"][2]["PolicyDocument"]
                    policy["Statement"] = [x for x in policy["Statement"] if x["Action"] != action]
                found = broken(drop)
                self.assertEqual(len(found), 2, found)
                for layout in ("iceberg", "files"):
                    self.assertBroken(found, "sink-writes-lake", f"LakeFormat {layout}: no {action}")

    def test_an_fn_if_on_an_undeclared_condition_is_reported(self):
        def undeclared(r):
            lake_grants(r)["Resource"]["Fn::If"][0] = "IsPlain"
        found = broken(undeclared)
        self.assertEqual(len(found), 1, found)
        self.assertBroken(found, "sink-writes-lake", "cannot be resolved")

    def test_without_a_lake_format_parameter_every_root_is_required(self):
        template = good()
        template.pop("Parameters")
        template.pop("Conditions")
        lake_grants(template["Resources"])["Resource"] = copy.deepcopy(FILES_KEYS)
        statements = compactor_statements(template["Resources"])
        statements[0] = statements[0]["Fn::If"][1]
        replay = template["Resources"]["ReplayRole"]["Properties"]["Policies"][0]
        replay["PolicyDocument"]["Statement"] = [replay["PolicyDocument"]["Statement"][1]]
        replay["PolicyDocument"]["Statement"][0]["Resource"] = copy.deepcopy(FILES_KEYS)
        self.assertEqual(violations(template), [])
        lake_grants(template["Resources"])["Resource"].pop(2)
        found = violations(template)
        self.assertEqual(len(found), 1, found)
        self.assertBroken(found, "sink-writes-lake",
                          "no s3:PutObject on ${LakeBucket.Arn}/${LakePrefix}users_csv/*")

    # compactor-reaches-lake

    def test_a_compactor_without_its_lease_grant_is_caught(self):
        found = broken(lambda r: compactor_statements(r).pop(1))
        self.assertEqual(len(found), 3 * 2, found)
        for layout in ("iceberg", "files"):
            self.assertBroken(found, "compactor-reaches-lake",
                              f"LakeFormat {layout}: no s3:GetObject on "
                              "${LakeBucket.Arn}/${LakePrefix}_compactor/*")

    def test_a_compactor_that_may_not_delete_originals_is_caught(self):
        def no_delete(r):
            compactor_statements(r)[0]["Fn::If"][1]["Action"] = ["s3:GetObject", "s3:PutObject"]
        found = broken(no_delete)
        self.assertEqual(len(found), 1, found)
        self.assertBroken(found, "compactor-reaches-lake", "LakeFormat files: no s3:DeleteObject")

    def test_a_compactor_granted_users_in_the_table_layout_is_caught(self):
        def every_layout(r):
            statements = compactor_statements(r)
            statements[0] = statements[0]["Fn::If"][1]
        found = broken(every_layout)
        self.assertEqual(len(found), 3, found)
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            self.assertBroken(found, "files-roots-only-with-files",
                              f"LakeFormat iceberg: {action} on "
                              "${LakeBucket.Arn}/${LakePrefix}users/*")

    # dashboard-metrics

    def test_a_dashboard_metric_the_functions_do_not_emit_is_caught(self):
        def misspelt(r):
            body = json.loads(r["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])
            body["widgets"][0]["properties"]["metrics"][0][1] = "RecordsWriten"
            r["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"] = json.dumps(body)
        found = broken(misspelt)
        self.assertEqual(len(found), 1, found)
        self.assertBroken(found, "dashboard-metrics", "RecordsWriten")

    def test_a_dashboard_body_that_is_not_json_is_caught(self):
        def truncated(r):
            r["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"] = '{"widgets": ['
        self.assertBroken(broken(truncated), "dashboard-metrics", "not JSON")


if __name__ == "__main__":
    unittest.main()
