"""Federation PKI: root CA, node and agency certificates, CRL, trust checks."""
