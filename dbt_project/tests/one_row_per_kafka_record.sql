-- The lake's exactly-once promise: no Kafka record (topic, partition, offset) is in the table twice.
select kafka_topic, kafka_partition, kafka_offset, count(*) as rows_of_record
from {{ source('lake', 'users') }}
group by kafka_topic, kafka_partition, kafka_offset
having count(*) > 1
