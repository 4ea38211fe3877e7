from connext.viewsets import OptionalSlashRouter
from logs import views

router = OptionalSlashRouter()
router.register("logs", views.LogViewSet, basename="log")

urlpatterns = router.urls
