from django.contrib import admin

from jobs.models import Job, Schedule

admin.site.register(Job)
admin.site.register(Schedule)
