-- Users per age band: whole years from dob to today (UTC).
with ages as (
    select {{ age_in_years('dob', 'current_date') }} as age
    from {{ ref('stg_users') }}
),

banded as (
    select
        case
            when age < 18 then 0
            when age < 25 then 18
            when age < 35 then 25
            when age < 45 then 35
            when age < 55 then 45
            when age < 65 then 55
            else 65
        end as band_start
    from ages
)

select
    case band_start
        when 0 then 'under 18'
        when 18 then '18-24'
        when 25 then '25-34'
        when 35 then '35-44'
        when 45 then '45-54'
        when 55 then '55-64'
        else '65+'
    end as age_band,
    band_start,
    count(*) as users
from banded
group by band_start
