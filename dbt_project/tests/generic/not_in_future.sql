{#- Fails on each value of the column (a timestamp without zone, UTC) later than now. -#}
{% test not_in_future(model, column_name) %}
select {{ column_name }}
from {{ model }}
where {{ column_name }} > cast({{ dbt.current_timestamp() }} as {{ dbt.type_timestamp() }})
{% endtest %}
