"""recaudit.mitigations"""
