{#- The country of an address: its last comma-separated part, trimmed, or null when empty.
    The producer builds the address as "<number> <street>, <city>, <state>, <country>"
    (functions/producer/src/mapping.rs), so the last part is the API's location.country even
    when a street or city holds a comma of its own. -#}
{% macro country_of(address) -%}
    nullif(trim({{ last_split_part(address, "','") }}), '')
{%- endmacro %}

{#- The last part of a string split on a delimiter (the whole string when it has none). -#}
{% macro last_split_part(string_text, delimiter_text) -%}
    {{ return(adapter.dispatch('last_split_part', 'user_lake')(string_text, delimiter_text)) }}
{%- endmacro %}

{% macro default__last_split_part(string_text, delimiter_text) -%}
    {{ dbt.split_part(string_text, delimiter_text, -1) }}
{%- endmacro %}

{% macro duckdb__last_split_part(string_text, delimiter_text) -%}
    string_split({{ string_text }}, {{ delimiter_text }})[-1]
{%- endmacro %}

{#- Athena (Trino): split_part takes no negative index, element_at does. -#}
{% macro athena__last_split_part(string_text, delimiter_text) -%}
    element_at(split({{ string_text }}, {{ delimiter_text }}), -1)
{%- endmacro %}
