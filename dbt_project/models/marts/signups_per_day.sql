-- Users who registered on each day (UTC) of their registered_date.
select
    cast({{ dbt.date_trunc('day', 'registered_date') }} as date) as registered_day,
    count(*) as signups
from {{ ref('stg_users') }}
group by 1
