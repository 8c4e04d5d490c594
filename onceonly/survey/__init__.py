"""The staff survey built in: the 2011 report's questionnaire, answered anonymously once per
wave by the holders of exchange permissions (clerks) of chosen agencies."""
