"""Market analytics library: auction-record schema and import, price models, indices, forecasts.

Built on pandas and scikit-learn estimators; never imports Django.
"""
