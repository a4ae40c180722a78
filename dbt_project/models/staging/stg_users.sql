-- A table in the local DuckDB file (readable without the iceberg extension), a view on Athena.
{{ config(materialized='table' if target.type == 'duckdb' else 'view') }}

-- One typed row per user id. The lake holds each Kafka record once, so an id is there twice only
-- when the producer sent the user twice; the copy with the latest Kafka coordinates is kept
-- (Kafka time, then partition and offset), and `copies` says how many the lake holds.
with records as (

    select
        *,
        row_number() over (
            partition by id
            order by kafka_timestamp desc, kafka_partition desc, kafka_offset desc
        ) as newest_first,
        count(*) over (partition by id) as copies
    from {{ source('lake', 'users') }}

)

select
    cast(id as {{ dbt.type_string() }}) as id,
    first_name,
    last_name,
    lower(gender) as gender,
    address,
    {{ country_of('address') }} as country,
    post_code,
    email,
    username,
    cast(dob as {{ dbt.type_timestamp() }}) as dob,
    cast(registered_date as {{ dbt.type_timestamp() }}) as registered_date,
    phone,
    picture,
    kafka_topic,
    cast(kafka_partition as {{ dbt.type_int() }}) as kafka_partition,
    cast(kafka_offset as {{ dbt.type_bigint() }}) as kafka_offset,
    cast(kafka_timestamp as {{ dbt.type_timestamp() }}) as kafka_timestamp,
    cast(copies as {{ dbt.type_int() }}) as copies
from records
where newest_first = 1
