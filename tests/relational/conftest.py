"""Small databases built in code: every schema shape the relational model must handle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from synthera.relational import Schema


def shop(n_customers: int = 120, seed: int = 0) -> tuple[dict[str, pd.DataFrame], Schema]:
    """customers -> orders -> items <- products (depth 3, composite key on items, a second parent)."""
    rng = np.random.default_rng(seed)
    customers = pd.DataFrame({"id": np.arange(1, n_customers + 1),
                              "country": rng.choice(["FR", "DE", "US"], n_customers),
                              "age": rng.integers(18, 80, n_customers)})
    k = rng.poisson(np.where(customers["country"] == "US", 4, 1))
    orders = pd.DataFrame({"order_id": np.arange(1, k.sum() + 1),
                           "customer_id": np.repeat(customers["id"].to_numpy(), k)})
    us = np.repeat((customers["country"] == "US").to_numpy(), k)
    orders["amount"] = np.round(rng.gamma(2, 10, len(orders)) * np.where(us, 3, 1), 2)
    products = pd.DataFrame({"product_id": np.arange(1, 31), "category": rng.choice(["a", "b"], 30),
                             "price": np.round(rng.uniform(1, 100, 30), 2)})
    m = rng.integers(1, 4, len(orders))
    items = pd.DataFrame({"order_id": np.repeat(orders["order_id"].to_numpy(), m),
                          "line": np.concatenate([np.arange(1, x + 1) for x in m]),
                          "product_id": rng.integers(1, 31, m.sum()), "qty": rng.integers(1, 5, m.sum())})
    schema = Schema.from_dict({
        "tables": {"customers": {"primary_key": ["id"]}, "orders": {"primary_key": ["order_id"]},
                   "products": {"primary_key": ["product_id"]}, "items": {"primary_key": ["order_id", "line"]}},
        "foreign_keys": [
            {"child": "orders", "columns": ["customer_id"], "parent": "customers", "parent_columns": ["id"]},
            {"child": "items", "columns": ["order_id"], "parent": "orders", "parent_columns": ["order_id"]},
            {"child": "items", "columns": ["product_id"], "parent": "products", "parent_columns": ["product_id"]},
        ]})
    return {"customers": customers, "orders": orders, "products": products, "items": items}, schema


def flights_like(seed: int = 0) -> tuple[dict[str, pd.DataFrame], Schema]:
    """Two keys to one parent (origin, dest), a composite key to weather, orphans and a nullable key."""
    rng = np.random.default_rng(seed)
    airports = pd.DataFrame({"faa": [f"A{i:02d}" for i in range(30)], "tz": rng.choice([-5, -6, -8], 30),
                             "alt": rng.integers(0, 2000, 30)})
    hours = pd.date_range("2024-01-01", periods=40, freq="h").strftime("%Y-%m-%dT%H:%M:%S")
    weather = pd.DataFrame([(o, h) for o in ["A00", "A01"] for h in hours], columns=["origin", "time_hour"])
    weather["temp"] = np.round(rng.normal(10, 5, len(weather)), 1)
    planes = pd.DataFrame({"tailnum": [f"N{i}" for i in range(50)], "seats": rng.choice([50, 150, 300], 50)})
    n = 600
    w = weather.sample(n, replace=True, random_state=seed).reset_index(drop=True)
    flights = pd.DataFrame({"origin": w["origin"], "time_hour": w["time_hour"],
                            "dest": rng.choice(airports["faa"].iloc[2:], n),
                            "tailnum": rng.choice(planes["tailnum"], n).astype(object),
                            "delay": np.round(rng.normal(5, 10, n) + w["temp"].to_numpy(), 1)})
    flights.loc[:29, "dest"] = "ZZZ"  # orphans: no such airport
    flights.loc[30:59, "tailnum"] = None  # nulls
    schema = Schema.from_dict({
        "tables": {"airports": {"primary_key": ["faa"]}, "weather": {"primary_key": ["origin", "time_hour"]},
                   "planes": {"primary_key": ["tailnum"]}, "flights": {"primary_key": []}},
        "foreign_keys": [
            {"child": "weather", "columns": ["origin"], "parent": "airports", "parent_columns": ["faa"]},
            {"child": "flights", "columns": ["origin"], "parent": "airports", "parent_columns": ["faa"]},
            {"child": "flights", "columns": ["dest"], "parent": "airports", "parent_columns": ["faa"],
             "nullable": True},
            {"child": "flights", "columns": ["tailnum"], "parent": "planes", "parent_columns": ["tailnum"],
             "nullable": True},
            {"child": "flights", "columns": ["origin", "time_hour"], "parent": "weather",
             "parent_columns": ["origin", "time_hour"]},
        ]})
    return {"airports": airports, "weather": weather, "planes": planes, "flights": flights}, schema


def company(seed: int = 0) -> tuple[dict[str, pd.DataFrame], Schema]:
    """A self-reference (employee.reports_to), a link table (students x courses) and a cycle broken at a
    nullable key (departments.head -> employees, employees.dept -> departments)."""
    rng = np.random.default_rng(seed)
    departments = pd.DataFrame({"id": np.arange(1, 6), "budget": rng.integers(10, 100, 5),
                                "head": pd.array([1, 2, None, 4, None], dtype="Int64")})
    n = 60
    employees = pd.DataFrame({"id": np.arange(1, n + 1), "dept": rng.integers(1, 6, n),
                              "salary": rng.integers(30, 120, n) * 1000,
                              "reports_to": pd.array([None] + list(rng.integers(1, 10, n - 1)), dtype="Int64")})
    students = pd.DataFrame({"id": np.arange(1, 41), "year": rng.integers(1, 5, 40)})
    courses = pd.DataFrame({"id": np.arange(1, 16), "level": rng.choice(["intro", "adv"], 15)})
    pairs = {(int(s), int(c)) for s, c in zip(rng.integers(1, 41, 200), rng.integers(1, 16, 200), strict=True)}
    enrolments = pd.DataFrame(sorted(pairs), columns=["student_id", "course_id"])
    enrolments["grade"] = rng.integers(1, 6, len(enrolments))
    schema = Schema.from_dict({
        "tables": {"departments": {"primary_key": ["id"]}, "employees": {"primary_key": ["id"]},
                   "students": {"primary_key": ["id"]}, "courses": {"primary_key": ["id"]},
                   "enrolments": {"primary_key": ["student_id", "course_id"]}},
        "foreign_keys": [
            {"child": "departments", "columns": ["head"], "parent": "employees", "parent_columns": ["id"],
             "nullable": True},
            {"child": "employees", "columns": ["dept"], "parent": "departments", "parent_columns": ["id"]},
            {"child": "employees", "columns": ["reports_to"], "parent": "employees", "parent_columns": ["id"],
             "nullable": True},
            {"child": "enrolments", "columns": ["student_id"], "parent": "students", "parent_columns": ["id"]},
            {"child": "enrolments", "columns": ["course_id"], "parent": "courses", "parent_columns": ["id"]},
        ]})
    tables = {"departments": departments, "employees": employees, "students": students, "courses": courses,
              "enrolments": enrolments}
    return tables, schema


@pytest.fixture(autouse=True)
def _quiet(recwarn):
    """Small tables draw the usual few-rows warnings; they are not what these tests look at."""
    yield
