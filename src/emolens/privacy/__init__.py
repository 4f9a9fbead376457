"""Privacy at the edges of the system: differentially private releases of counts with a per-gallery budget
(``release``), the audit log (``audit``) and the retention schedule (``retention``)."""
