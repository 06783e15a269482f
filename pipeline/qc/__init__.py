"""Quality control of scans after DA/T 31-2017: image metrics, rules, reports, acceptance sampling."""
