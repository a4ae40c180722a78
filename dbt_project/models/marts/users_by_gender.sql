-- Users per gender.
select
    gender,
    count(*) as users
from {{ ref('stg_users') }}
group by 1
