"""Patients report from their own phone: questionnaire requests, the link, the patient's page."""
