"""The stack rules on made-up translated templates: a stack as it is meant passes, and each rule
fails when its fault is put back."""
import copy
import unittest

from stack_rules import violations


def good():
    """The parts of the translated template the stack rules read."""
    return {
        "Parameters": {
            "GlueDatabaseName": {"Type": "String", "Default": ""},
            "SinkConsumerGroupId": {"Type": "String", "Default": ""},
            "MskClusterArn": {"Type": "String"},
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
                                    {"Fn::Join": ["_", {"Fn::Split": ["-", {"Ref": "AWS::StackName"}]}]}]}}}},
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


def broken(change, overrides=None):
    template = good()
    change(template)
    return violations(template, overrides)


def rules(found):
    return sorted({v["rule"] for v in found})


class TwoStacks(unittest.TestCase):
    def test_the_stack_as_it_is_meant_passes(self):
        self.assertEqual(violations(good()), [])

    def test_a_fixed_glue_database_name_is_caught(self):
        def change(t):
            t["Parameters"]["GlueDatabaseName"]["Default"] = "user_lake"
            t["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"] = {"Ref": "GlueDatabaseName"}
        found = broken(change)
        self.assertEqual([v["resource"] for v in found], ["GlueDatabase"], found)

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


if __name__ == "__main__":
    unittest.main()
