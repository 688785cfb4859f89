from tests.conftest import sign_in
from tests.factories import create_session, create_user


def test_signed_in_practitioner_sees_the_catalogue(client):
    user = create_user()
    session = create_session()
    response = sign_in(client, user)
    assert response.status_code == 302
    page = client.get("/sessions/").get_data(as_text=True)
    assert session.course.title in page
