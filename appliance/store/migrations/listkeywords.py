"""Migration 0027: a keyword selects one subscriber list per number, enforced by the database
(docs/design.md, "List keywords: one owner per number").

A list's join and leave keywords share one namespace per number (an inbound ``WEATHER`` must
select one list, whichever column holds it), so one unique index on ``subscriber_lists``
cannot hold the rule.  ``list_keywords`` holds one row per keyword a list claims on its number,
keyed by ``(modem, keyword)``: :meth:`~appliance.campaigns.lists.Subscribers.create_list`
inserts the list and its claims in one transaction (``ON CONFLICT DO NOTHING``), so of two
creates racing on two nodes (PostgreSQL, READ COMMITTED) the second waits for the first's
commit and gets the form's error.  A keyword is stored normalised (upper case, single spaces:
:func:`~appliance.campaigns.keywords.check_keyword`); a list without a keyword, or without a
number, claims nothing, so any number of them may exist.

A database may already hold duplicates (two panels racing before this step).  The earliest
list (lowest ``id``) keeps the keyword, as the keyword pass, which reads the lists in that
order, already answered it; a later list's clashing keyword is cleared, and so is a leave
keyword equal to its own list's join keyword.  Each clearing is one WARNING line of the
migration runner (the ``notice`` statement below).  Stored keywords are first upper-cased and
trimmed, as the form always wrote them, so the comparison is on the normalised word.
"""

from __future__ import annotations

_CLAIMANT = """
    FROM subscriber_lists l
    JOIN list_keywords k ON k.modem = l.modem AND k.keyword = l.{column}
    JOIN subscriber_lists w ON w.id = k.list_id
"""

_CLASH = """EXISTS (SELECT 1 FROM list_keywords k WHERE k.modem = subscriber_lists.modem
    AND k.keyword = subscriber_lists.{column} AND k.list_id <> subscriber_lists.id)"""

STEPS: tuple[tuple[str, str], ...] = (
    (
        "0027_list_keywords",
        f"""
        UPDATE subscriber_lists
            SET join_keyword = UPPER(TRIM(join_keyword)), leave_keyword = UPPER(TRIM(leave_keyword))
            WHERE join_keyword <> UPPER(TRIM(join_keyword))
                OR leave_keyword <> UPPER(TRIM(leave_keyword));
        CREATE TABLE list_keywords (
            modem TEXT NOT NULL,
            keyword TEXT NOT NULL,
            list_id INTEGER NOT NULL,
            PRIMARY KEY (modem, keyword)
        );
        INSERT INTO list_keywords (modem, keyword, list_id)
            SELECT modem, keyword, MIN(list_id) FROM (
                SELECT modem, join_keyword AS keyword, id AS list_id FROM subscriber_lists
                    WHERE modem <> '' AND join_keyword <> ''
                UNION ALL
                SELECT modem, leave_keyword, id FROM subscriber_lists
                    WHERE modem <> '' AND leave_keyword <> ''
            ) AS c GROUP BY modem, keyword;
        SELECT 'subscriber list ' || l.name || ': join keyword ' || l.join_keyword || ' on '
                || l.modem || ' cleared (list ' || w.name || ' has it)' AS notice,
                l.id AS list_id, 0 AS side
            {_CLAIMANT.format(column="join_keyword")}
            WHERE w.id <> l.id
        UNION ALL
        SELECT 'subscriber list ' || l.name || ': leave keyword ' || l.leave_keyword || ' on '
                || l.modem || ' cleared ('
                || CASE WHEN w.id = l.id THEN 'it is also its join keyword'
                    ELSE 'list ' || w.name || ' has it' END || ')',
                l.id, 1
            {_CLAIMANT.format(column="leave_keyword")}
            WHERE w.id <> l.id OR l.leave_keyword = l.join_keyword
        ORDER BY list_id, side;
        UPDATE subscriber_lists SET leave_keyword = ''
            WHERE modem <> '' AND leave_keyword <> ''
                AND (leave_keyword = join_keyword OR {_CLASH.format(column="leave_keyword")});
        UPDATE subscriber_lists SET join_keyword = ''
            WHERE modem <> '' AND join_keyword <> '' AND {_CLASH.format(column="join_keyword")}
        """,
    ),
)
