from connext.viewsets import OptionalSlashRouter
from schedules import views

router = OptionalSlashRouter()
router.register("schedules", views.ScheduleViewSet, basename="schedule")

urlpatterns = router.urls
