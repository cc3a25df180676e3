-- One database a service (SW_DATABASE_URL=postgresql://sw:…@postgres:5432/sw_{service}).
CREATE DATABASE sw_gateway;
CREATE DATABASE sw_customs;
CREATE DATABASE sw_inspection;
CREATE DATABASE sw_forex;
CREATE DATABASE sw_tax;
