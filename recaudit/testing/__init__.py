"""recaudit.testing"""
