-- Users per country (the address's last part, see stg_users).
select
    country,
    count(*) as users
from {{ ref('stg_users') }}
group by 1
