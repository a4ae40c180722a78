-- Every mart that splits the users counts each of them once: its total is the staging model's.
with totals as (
    select 'users_by_country' as mart, sum(users) as users from {{ ref('users_by_country') }}
    union all
    select 'users_by_gender', sum(users) from {{ ref('users_by_gender') }}
    union all
    select 'users_by_age_band', sum(users) from {{ ref('users_by_age_band') }}
    union all
    select 'signups_per_day', sum(signups) from {{ ref('signups_per_day') }}
    union all
    select 'signups_per_hour', sum(signups) from {{ ref('signups_per_hour') }}
)
select totals.mart, totals.users, staged.users as staged_users
from totals
cross join (select count(*) as users from {{ ref('stg_users') }}) as staged
where totals.users <> staged.users
