{#- Whether a string matches a regular expression anywhere (anchor it with ^ and $ for the whole
    string). DuckDB (RE2) calls it regexp_matches, Athena (Trino) regexp_like. -#}
{% macro regexp_like(string_text, pattern) -%}
    {{ return(adapter.dispatch('regexp_like', 'user_lake')(string_text, pattern)) }}
{%- endmacro %}

{% macro default__regexp_like(string_text, pattern) -%}
    regexp_like({{ string_text }}, {{ pattern }})
{%- endmacro %}

{% macro duckdb__regexp_like(string_text, pattern) -%}
    regexp_matches({{ string_text }}, {{ pattern }})
{%- endmacro %}
