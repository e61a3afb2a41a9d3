"""Logistics-flow statistics for policy staff: how goods traffic into a zone changes.

The stream counts every decided batch into anonymous hourly cells (`records`), a sink persists
them exactly once in the case database (`store`, `sink`), and the back office and the open-data
API read them with small cells suppressed (`suppression`). No plate, passage id or camera is
ever part of a cell.
"""
