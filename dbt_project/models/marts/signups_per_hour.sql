-- Users who registered in each hour (UTC) of their registered_date.
select
    {{ dbt.date_trunc('hour', 'registered_date') }} as registered_hour,
    count(*) as signups
from {{ ref('stg_users') }}
group by 1
