"""Adapters to the owning agency's source data.

The platform never reads an agency's store directly: it asks that agency's provider, which
answers with a record in the dataset's common standard, or evaluates a predicate and returns
only yes/no. Crossing this boundary is the product.
"""
