{#- Whole years from a birth date to a date: the difference of the years, less one when the
    birthday has not come yet that year (dbt.datediff counts year boundaries instead). -#}
{% macro age_in_years(born, as_of) -%}
    (extract(year from {{ as_of }}) - extract(year from {{ born }})
     - case
         when extract(month from {{ as_of }}) * 100 + extract(day from {{ as_of }})
              < extract(month from {{ born }}) * 100 + extract(day from {{ born }})
         then 1 else 0
       end)
{%- endmacro %}
