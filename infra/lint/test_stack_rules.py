"""The stack rules on made-up translated templates: a stack as it is meant passes, and each rule
fails when its fault is put back."""
import copy
import unittest

import stack_rules
from stack_rules import parameter_admits_wildcard


def violations(template, overrides=None, skipped=frozenset()):
    return stack_rules.violations(template, overrides, set(skipped))


def stack_name_in_lower_case():
    """The template's derivation: the stack's name with - as _, each capital split out and
    joined back as its small letter."""
    value = {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "AWS::StackName"}]}]}
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        value = {"Fn::Join": [letter.lower(), {"Fn::Split": [letter, value]}]}
    return value


def good():
    """The parts of the translated template the stack rules read."""
    return {
        "Parameters": {
            "GlueDatabaseName": {"Type": "String", "Default": ""},
            "SinkConsumerGroupId": {"Type": "String", "Default": ""},
            "MskClusterArn": {"Type": "String", "AllowedPattern":
                              "^arn:aws[a-zA-Z-]*:kafka:[a-z0-9-]+:[0-9]{12}:cluster/[A-Za-z0-9-]+/[A-Za-z0-9-]+$"},
            "SubnetIds": {"Type": "List<AWS::EC2::Subnet::Id>"},
            "AlarmEmail": {"Type": "String", "Default": ""},
        },
        "Conditions": {
            "HasGlueDatabaseName": {"Fn::Not": [{"Fn::Equals": [{"Ref": "GlueDatabaseName"}, ""]}]},
            "HasSinkConsumerGroupId": {"Fn::Not": [{"Fn::Equals": [{"Ref": "SinkConsumerGroupId"}, ""]}]},
            "HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]},
        },
        "Resources": {
            "GlueDatabase": {"Type": "AWS::Glue::Database", "Properties": {"DatabaseInput": {
                "Name": {"Fn::If": ["HasGlueDatabaseName", {"Ref": "GlueDatabaseName"},
                                    stack_name_in_lower_case()]}}}},
            "TablesNamespace": {"Type": "AWS::S3Tables::Namespace", "Properties": {
                "Namespace": {"Ref": "GlueDatabase"}}},
            "TableBucket": {"Type": "AWS::S3Tables::TableBucket", "Properties": {
                "TableBucketName": {"Fn::Sub": ["lake-${Id}", {"Id": {"Fn::Select": [
                    2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}}]}}},
            "UsersTable": {"Type": "AWS::Glue::Table", "Properties": {
                "DatabaseName": {"Ref": "GlueDatabase"}, "TableInput": {"Name": "users"}}},
            "SinkLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
                "LogGroupName": {"Fn::Sub": "/aws/lambda/${AWS::StackName}-sink"}}},
            "Dashboard": {"Type": "AWS::CloudWatch::Dashboard", "Properties": {
                "DashboardName": {"Fn::Sub": "${AWS::StackName}-pipeline"}}},
            "LakeBucket": {"Type": "AWS::S3::Bucket", "Properties": {}},
            "AlarmTopic": {"Type": "AWS::SNS::Topic", "Condition": "HasAlarmEmail",
                           "Properties": {"TopicName": "user-lake-alarms"}},
            "SinkRole": {"Type": "AWS::IAM::Role", "Properties": {"Policies": [
                {"PolicyName": "msk-event-source", "PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": "kafka:DescribeCluster",
                     "Resource": {"Ref": "MskClusterArn"}}]}}]}},
            "SinkFunction": {"Type": "AWS::Lambda::Function", "Properties": {
                "Role": {"Fn::GetAtt": ["SinkRole", "Arn"]}}},
            "SinkFunctionUsersTopic": {"Type": "AWS::Lambda::EventSourceMapping", "Properties": {
                "FunctionName": {"Ref": "SinkFunction"},
                "EventSourceArn": {"Ref": "MskClusterArn"},
                "Topics": ["users_created"],
                "AmazonManagedKafkaEventSourceConfig": {"ConsumerGroupId": {
                    "Fn::If": ["HasSinkConsumerGroupId", {"Ref": "SinkConsumerGroupId"},
                               {"Fn::Sub": "${AWS::StackName}-sink"}]}}}},
        },
    }


def broken(change, overrides=None, skipped=frozenset()):
    template = good()
    change(template)
    return violations(template, overrides, skipped)


def rules(found):
    return sorted({v["rule"] for v in found})


class LowerCaseNames(unittest.TestCase):
    def test_the_derivation_lower_cases_a_stack_name_with_capitals(self):
        self.assertEqual(violations(good()), [])
        stack = stack_rules.Stack(good(), *stack_rules.CAPITALISED_STACK)
        self.assertEqual(stack.eval(stack_name_in_lower_case()), "user_lake")

    def test_the_stack_name_with_hyphens_only_replaced_is_caught(self):
        def change(t):
            t["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"]["Fn::If"][2] = {
                "Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "AWS::StackName"}]}]}
        found = broken(change)
        self.assertEqual(rules(found), ["lower-case-names"])
        # The database and the namespace named after it.
        self.assertEqual(sorted(v["resource"] for v in found), ["GlueDatabase", "TablesNamespace"])
        self.assertIn("'User_Lake'", found[0]["problem"])

    def test_a_table_bucket_named_after_the_stack_is_caught(self):
        found = broken(lambda t: t["Resources"]["TableBucket"]["Properties"].update(
            TableBucketName={"Fn::Sub": "${AWS::StackName}-lake"}))
        self.assertEqual([(v["rule"], v["resource"]) for v in found],
                         [("lower-case-names", "TableBucket")])


class TwoStacks(unittest.TestCase):
    def test_the_stack_as_it_is_meant_passes(self):
        self.assertEqual(violations(good()), [])

    def test_a_fixed_glue_database_name_is_caught(self):
        def change(t):
            t["Parameters"]["GlueDatabaseName"]["Default"] = "user_lake"
            t["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"] = {"Ref": "GlueDatabaseName"}
        found = broken(change)
        # The table users in it collides too: Ref of the database is its name.
        self.assertEqual([v["resource"] for v in found], ["GlueDatabase", "UsersTable"], found)

    def test_a_per_stack_default_still_collides_when_both_stacks_are_given_one_value(self):
        found = broken(lambda t: None, overrides={"SinkConsumerGroupId": "shared-group"})
        self.assertEqual([v["resource"] for v in found], ["SinkFunctionUsersTopic"], found)

    def test_a_fixed_consumer_group_is_caught(self):
        def change(t):
            t["Resources"]["SinkFunctionUsersTopic"]["Properties"]["AmazonManagedKafkaEventSourceConfig"] = {
                "ConsumerGroupId": "user-lake-sink"}
        self.assertEqual(rules(broken(change)), ["two-stacks"])

    def test_a_literal_log_group_name_is_caught(self):
        def change(t):
            t["Resources"]["SinkLogGroup"]["Properties"]["LogGroupName"] = "/aws/lambda/user-lake-sink"
        self.assertEqual([v["resource"] for v in broken(change)], ["SinkLogGroup"])

    def test_a_resource_whose_condition_is_false_is_not_created(self):
        self.assertEqual(violations(good()), [])
        found = broken(lambda t: None, overrides={"AlarmEmail": "ops@example.com"})
        self.assertEqual([v["resource"] for v in found], ["AlarmTopic"], found)

    def test_the_table_name_is_unique_within_its_database_only(self):
        template = good()
        template["Resources"]["UsersTable"]["Properties"]["DatabaseName"] = "shared"
        self.assertEqual([v["resource"] for v in violations(template)], ["UsersTable"])


class KafkaMappingAfterGrants(unittest.TestCase):
    def separate_policy(self, t):
        t["Resources"]["SinkTriggerPolicy"] = {"Type": "AWS::IAM::Policy", "Properties": {
            "Roles": [{"Ref": "SinkRole"}], "PolicyDocument": {"Statement": [
                {"Effect": "Allow", "Action": "kafka-cluster:Connect", "Resource": "*"}]}}}

    def test_inline_policies_are_ordered_through_the_function(self):
        self.assertEqual(violations(good()), [])

    def test_a_separate_policy_the_mapping_does_not_wait_for_is_caught(self):
        found = broken(self.separate_policy)
        self.assertEqual(rules(found), ["kafka-mapping-after-grants"], found)

    def test_a_depends_on_of_the_function_orders_it(self):
        def change(t):
            self.separate_policy(t)
            t["Resources"]["SinkFunction"]["DependsOn"] = "SinkTriggerPolicy"
        self.assertEqual(broken(change), [])

    def test_a_depends_on_of_the_mapping_orders_it(self):
        def change(t):
            self.separate_policy(t)
            t["Resources"]["SinkFunctionUsersTopic"]["DependsOn"] = ["SinkTriggerPolicy"]
        self.assertEqual(broken(change), [])



def alarm(namespace, metric, dimension=None, **props):
    properties = {"Namespace": namespace, "MetricName": metric,
                  "Dimensions": [dimension] if dimension else [], "Threshold": 0}
    properties.update(props)
    return {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}


class IamNoWildcardParameters(unittest.TestCase):
    def with_prefix(self, pattern):
        def change(t):
            t["Parameters"]["LakePrefix"] = {"Type": "String", "Default": "", "AllowedPattern": pattern}
            t["Resources"]["SinkRole"]["Properties"]["Policies"].append(
                {"PolicyName": "lake-write", "PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": "s3:PutObject",
                     "Resource": {"Fn::Sub": "${LakeBucket.Arn}/${LakePrefix}users/*"}}]}})
        return change

    def test_a_prefix_pattern_without_wildcards_passes(self):
        found = broken(self.with_prefix(r"^$|^[A-Za-z0-9!_'()-][A-Za-z0-9!_.'()-]*(/[A-Za-z0-9!_'()-][A-Za-z0-9!_.'()-]*)*/$"))
        self.assertEqual(found, [])

    def test_a_prefix_pattern_admitting_a_star_is_caught(self):
        found = broken(self.with_prefix(r"^$|^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$"))
        self.assertEqual(rules(found), ["iam-no-wildcard-parameters"], found)

    def test_a_parameter_in_a_condition_counts(self):
        def change(t):
            t["Parameters"]["Group"] = {"Type": "String", "AllowedPattern": "^.+$"}
            t["Resources"]["SinkRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0][
                "Condition"] = {"StringLike": {"s3:prefix": {"Fn::Sub": "${Group}/"}}}
        self.assertEqual(rules(broken(change)), ["iam-no-wildcard-parameters"])

    def test_the_pattern_analysis(self):
        for pattern, admits in [("^[a-z]+$", False), ("^.+$", True), ("^[^/]+$", True),
                                (r"^\S+$", True), ("^a?b*$", False), (r"^a\*$", True),
                                ("^(?!AWS/)[A-Za-z0-9._/#: -]{1,5}$", False),
                                ("^$|^arn:[A-Za-z0-9/_+=.@-]+$", False), ("^[!-~]+$", True)]:
            spec = {"Type": "String", "AllowedPattern": pattern}
            self.assertEqual(parameter_admits_wildcard(spec), admits, pattern)
        self.assertTrue(parameter_admits_wildcard({"Type": "String"}))
        self.assertFalse(parameter_admits_wildcard({"Type": "Number"}))
        self.assertTrue(parameter_admits_wildcard({"Type": "String", "AllowedValues": ["a", "b*"]}))


class ManagedLogsStar(unittest.TestCase):
    def test_the_vpc_access_managed_policy_is_caught(self):
        def change(t):
            t["Resources"]["SinkRole"]["Properties"]["ManagedPolicyArns"] = [
                {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"}]
        found = broken(change)
        self.assertEqual(rules(found), ["no-managed-logs-star"], found)

    def test_an_unpinned_managed_policy_is_caught(self):
        def change(t):
            t["Resources"]["SinkRole"]["Properties"]["ManagedPolicyArns"] = [
                "arn:aws:iam::aws:policy/AdministratorAccess"]
        self.assertIn("not pinned", broken(change)[0]["problem"])


class ServiceTrust(unittest.TestCase):
    def trust(self, statement):
        def change(t):
            t["Resources"]["SchedulerRole"] = {"Type": "AWS::IAM::Role", "Properties": {
                "AssumeRolePolicyDocument": {"Statement": [statement]}}}
        return broken(change)

    def test_a_scheduler_trust_with_source_account_passes(self):
        self.assertEqual(self.trust({"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                                     "Action": "sts:AssumeRole", "Condition": {"StringEquals": {
                                         "aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}), [])

    def test_a_scheduler_trust_without_a_source_condition_is_caught(self):
        found = self.trust({"Effect": "Allow", "Principal": {"Service": ["scheduler.amazonaws.com"]},
                            "Action": "sts:AssumeRole"})
        self.assertEqual(rules(found), ["service-trust-source-account"], found)

    def test_lambdas_trust_of_an_execution_role_needs_none(self):
        self.assertEqual(self.trust({"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                     "Action": "sts:AssumeRole"}), [])

    def test_a_whole_account_trust_needs_a_condition(self):
        root = {"Effect": "Allow", "Principal": {"AWS": {"Fn::Sub": "arn:aws:iam::${AWS::AccountId}:root"}},
                "Action": "sts:AssumeRole"}
        self.assertEqual(rules(self.trust(root)), ["service-trust-source-account"])
        root["Condition"] = {"StringEquals": {"aws:PrincipalTag/user-lake-replay": "user-lake"}}
        self.assertEqual(self.trust(root), [])


class LifecycleForDeletedObjects(unittest.TestCase):
    def lake(self, rules_):
        def change(t):
            t["Resources"]["LakeBucket"]["Properties"] = {
                "VersioningConfiguration": {"Status": "Enabled"},
                "LifecycleConfiguration": {"Rules": rules_}}
            t["Resources"]["SinkRole"]["Properties"]["Policies"].append(
                {"PolicyName": "compact", "PolicyDocument": {"Statement": [
                    {"Effect": "Allow", "Action": ["s3:GetObject", "s3:DeleteObject"],
                     "Resource": {"Fn::Sub": "${LakeBucket.Arn}/users/*"}}]}})
        return broken(change)

    def test_both_rules_pass(self):
        self.assertEqual(self.lake([
            {"Id": "m", "Status": "Enabled", "ExpiredObjectDeleteMarker": True},
            {"Id": "n", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}]), [])

    def test_delete_markers_kept_for_ever_are_caught(self):
        found = self.lake([{"Id": "n", "Status": "Enabled",
                            "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}])
        self.assertEqual([v["rule"] for v in found], ["lifecycle-for-deleted-objects"])
        self.assertIn("ExpiredObjectDeleteMarker", found[0]["problem"])

    def test_a_disabled_rule_does_not_count(self):
        found = self.lake([{"Id": "m", "Status": "Disabled", "ExpiredObjectDeleteMarker": True},
                           {"Id": "n", "Status": "Enabled", "NoncurrentVersionExpiration": {"NoncurrentDays": 3}}])
        self.assertEqual(rules(found), ["lifecycle-for-deleted-objects"])


class Alarms(unittest.TestCase):
    def lag(self, threshold_min):
        def change(t):
            t["Parameters"]["UsersPerRun"] = {"Type": "Number", "Default": 100, "MinValue": 1, "MaxValue": 20000}
            t["Parameters"]["OffsetLagAlarmThreshold"] = {"Type": "Number", "Default": 30000,
                                                          "MinValue": threshold_min}
            t["Resources"]["SinkOffsetLagAlarm"] = alarm(
                "AWS/Lambda", "OffsetLag", Threshold={"Ref": "OffsetLagAlarmThreshold"})
        return broken(change)

    def test_a_lag_threshold_above_the_largest_run_passes(self):
        self.assertEqual(self.lag(20001), [])

    def test_a_lag_threshold_a_run_can_reach_is_caught(self):
        self.assertEqual(rules(self.lag(1)), ["alarm-threshold-above-burst"])

    def test_a_run_kept_whole_by_a_pattern_is_bounded_by_the_largest_number_it_matches(self):
        def change(t, threshold_min):
            t["Parameters"]["UsersPerRun"] = {"Type": "String", "Default": "100",
                                              "AllowedPattern": "^([1-9][0-9]{0,3}|1[0-9]{4}|20000)$"}
            t["Parameters"]["OffsetLagAlarmThreshold"] = {"Type": "Number", "Default": 30000,
                                                          "MinValue": threshold_min}
            t["Resources"]["SinkOffsetLagAlarm"] = alarm(
                "AWS/Lambda", "OffsetLag", Threshold={"Ref": "OffsetLagAlarmThreshold"})
        self.assertEqual(broken(lambda t: change(t, 20001)), [])
        self.assertEqual(rules(broken(lambda t: change(t, 20000))), ["alarm-threshold-above-burst"])

    def test_a_skipped_work_metric_without_an_alarm_is_caught(self):
        found = broken(lambda t: None, skipped={"Skipped"})
        self.assertEqual(rules(found), ["alarm-on-skipped-work"])

        def change(t):
            t["Resources"]["CompactorSkippedAlarm"] = alarm({"Ref": "MetricsNamespace"}, "Skipped")
        self.assertEqual(broken(change, skipped={"Skipped"}), [])

    def test_the_metrics_doc_marks_the_compactors_skips(self):
        self.assertIn("Skipped", stack_rules.skipped_work_metrics())
        self.assertIn("PartitionsFailed", stack_rules.skipped_work_metrics())


class FailedBatchesPersist(unittest.TestCase):
    def stack(self, change=None):
        def base(t):
            t["Parameters"]["FailedBatchRetentionDays"] = {"Type": "Number", "Default": 30, "MinValue": 14}
            t["Resources"]["FailedBatchBucket"] = {"Type": "AWS::S3::Bucket", "Properties": {
                "LifecycleConfiguration": {"Rules": [{"Status": "Enabled",
                                                      "ExpirationInDays": {"Ref": "FailedBatchRetentionDays"}}]}}}
            t["Resources"]["SinkFunctionUsersTopic"]["Properties"]["DestinationConfig"] = {
                "OnFailure": {"Destination": {"Fn::GetAtt": ["FailedBatchBucket", "Arn"]}}}
            t["Resources"]["FailedBatchesWaitingAlarm"] = alarm(
                "AWS/S3", "NumberOfObjects", {"Name": "BucketName", "Value": {"Ref": "FailedBatchBucket"}})
            t["Resources"]["SinkFailedBatchAlarm"] = {"Type": "AWS::CloudWatch::Alarm", "Properties": {
                "Metrics": [{"Id": "d", "MetricStat": {"Metric": {
                    "Namespace": "AWS/Lambda", "MetricName": "OnFailureDestinationDeliveredEventCount",
                    "Dimensions": [{"Name": "EventSourceMappingUUID",
                                    "Value": {"Ref": "SinkFunctionUsersTopic"}}]}}}],
                "AlarmActions": ["topic"]}}
            if change:
                change(t)
        return broken(base)

    def test_the_stack_as_it_is_meant_passes(self):
        self.assertEqual(self.stack(), [])

    def test_no_alarm_on_the_waiting_batches_is_caught(self):
        found = self.stack(lambda t: t["Resources"].pop("FailedBatchesWaitingAlarm"))
        self.assertEqual(rules(found), ["failed-batches-persist"])

    def test_an_ok_message_on_the_given_up_alarm_is_caught(self):
        found = self.stack(lambda t: t["Resources"]["SinkFailedBatchAlarm"]["Properties"].update(
            OKActions=["topic"]))
        self.assertEqual([v["resource"] for v in found], ["SinkFailedBatchAlarm"])

    def test_a_retention_that_can_be_a_day_is_caught(self):
        found = self.stack(lambda t: t["Parameters"]["FailedBatchRetentionDays"].update(MinValue=1))
        self.assertEqual([v["resource"] for v in found], ["FailedBatchBucket"])


if __name__ == "__main__":
    unittest.main()
