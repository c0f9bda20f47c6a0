"""recaudit.engine"""
